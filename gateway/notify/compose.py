"""What a notification says, in the endpoint's staff language: a title and lines of text. The wire
format (Slack blocks, signed JSON) is the adapter's business (gateway.providers.webhooks)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlmodel import Session

from gateway.i18n import Speaker
from gateway.models import FieldPartner, Flag, Notification, WebhookEndpoint
from gateway.ops import flags


@dataclass
class Composed:
    title: str
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join([self.title, *self.lines])


def _pct(value) -> str:
    return f"{Decimal(str(value)) * 100:.1f} %"


def _change(value) -> str:
    points = Decimal(str(value)) * 100
    return f"{'+' if points >= 0 else '−'}{abs(points):.1f}"


def compose(session: Session, note: Notification, endpoint: WebhookEndpoint, settings) -> Composed:
    partner = session.get(FieldPartner, endpoint.field_partner_id)
    sp = Speaker(endpoint.language, partner.country if partner else settings.default_country,
                 settings.default_timezone)
    p, lender = note.payload, partner.name if partner else ""
    if note.event == "daily_summary":
        lines = []
        for cur in p["currencies"]:
            lines += [
                sp._("Collected yesterday: {amount}", amount=sp.money(cur["collected"], cur["currency"])),
                sp._("Collection rate this month: {rate}", rate=_pct(cur["collection_rate"])),
                sp._("PAR1: {par} ({change} points since the day before)", par=_pct(cur["par1"]),
                     change=_change(cur["par1_change"])),
                sp._("PAR30: {par} ({change} points since the day before)", par=_pct(cur["par30"]),
                     change=_change(cur["par30_change"])),
                sp._("Promises due today: {count} ({amount})", count=cur["promises"],
                     amount=sp.money(cur["promised"], cur["currency"]))]
        if not p["currencies"]:
            lines.append(sp._("No loans on the book."))
        return Composed(sp._("{lender}: collections summary for {date}", lender=lender,
                             date=sp.date(dt.date.fromisoformat(p["date"]))), lines)
    if note.event == "large_payment":
        return Composed(sp._("{lender}: payment of {amount} to loan {loan}", lender=lender,
                             amount=sp.money(p["amount"], p["currency"]), loan=p["loan"]))
    if note.event == "flag_raised":
        flag = session.get(Flag, p["flag_id"])
        reason = flags.reason_text(flag, sp) if flag else ""
        title = sp._("{lender}: flag raised on loan {loan}", lender=lender, loan=p["loan"]) if p["loan"] else \
            sp._("{lender}: flag raised", lender=lender)
        return Composed(title, [f"{sp._(p['kind'])}: {reason}"])
    if note.event == "failures":
        what = sp._("payment callbacks failing") if p["source"] == "callbacks" else \
            sp._("SMS failing at the provider")
        return Composed(sp._("{lender}: {what}", lender=lender, what=what),
                        [sp._("{count} in the last hour (alert at {threshold})", count=p["count"],
                              threshold=endpoint.failure_threshold)])
    if note.event == "loan_repaid":
        return Composed(sp._("{lender}: loan {loan} is fully repaid", lender=lender, loan=p["loan"]),
                        [sp._("{product}, principal {amount}", product=p["product"],
                              amount=sp.money(p["principal"], p["currency"]))])
    if note.event == "test":
        return Composed(sp._("{lender}: test message from the gateway", lender=lender))
    raise ValueError(f"unknown event {note.event!r}")
