"""Flags: accounts and payments an operator must look at, each with its reason, raised once
(a unique key in the database) and resolved with a note. Both steps are audited."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from gateway import audit, phones, signals
from gateway.config import Settings
from gateway.db import utcnow
from gateway.i18n import N_, Speaker
from gateway.models import (
    Borrower,
    Flag,
    LedgerEntry,
    Loan,
    Message,
    Payment,
    PaymentStatus,
    PendingReversal,
    ReversalStatus,
)
from gateway.ops import portfolio

KINDS = ("default_eligible", "foreign_payer", "reversals", "overpayment", "bad_number", "reversal_unmatched",
         "conflicting_duplicate", "spot_check_discrepancy", "field_visit")
# Delivery outcomes that say the number itself is wrong: retrying will not help.
BAD_NUMBER_REASONS = {"invalidphonenumber", "unsupportednumbertype", "userinblacklist", "userdoesnotexist",
                      "notnetworksubscriber", "notnetworksubcriber", "userisinactive", "useraccountsuspended"}


class FlagError(ValueError):
    pass


MONEY_VALUES = ("amount", "balance")  # reason values that are minor units of the flag's currency


def _values(values: dict, currency: str | None, speaker: Speaker) -> dict:
    return {k: speaker.money(v, currency) if k in MONEY_VALUES and currency else v for k, v in values.items()}


def reason_text(flag: Flag, speaker: Speaker) -> str:
    """The flag's reason in the operator's language (stored as a msgid and its values)."""
    r = (flag.details or {}).get("reason")
    if not r:
        return flag.reason
    msgid, values = r["msgid"], _values(r["values"], r.get("currency"), speaker)
    return speaker._(msgid, **values)


def raise_flag(session: Session, kind: str, key: str, reason: str, values: dict | None = None, *,
               currency: str | None = None, loan_id=None, borrower_id=None, payment_id=None,
               actor: str = "system", **details) -> Flag | None:
    """Raise a flag once per key; returns None when it was already raised (open or resolved).
    `reason` is a msgid (N_) with `values`, so each operator reads it in their language."""
    if kind not in KINDS:
        raise FlagError(f"unknown flag kind {kind!r}")
    values = values or {}
    details["reason"] = {"msgid": reason, "values": values, "currency": currency}
    reason = Speaker("en")._(reason, **_values(values, currency, Speaker("en")))
    dedupe_key = f"{kind}:{key}"
    if session.exec(select(Flag.id).where(Flag.dedupe_key == dedupe_key)).first():
        return None
    flag = Flag(kind=kind, loan_id=loan_id, borrower_id=borrower_id, payment_id=payment_id, reason=reason,
                details=details, dedupe_key=dedupe_key)
    try:
        with session.begin_nested():  # a concurrent scan may have raised it meanwhile
            session.add(flag)
            session.flush()
    except IntegrityError:
        return None
    audit.record(session, actor, "flag.raised", "flag", flag.id, kind=kind, loan_id=loan_id,
                 borrower_id=borrower_id, payment_id=payment_id, reason=reason)
    signals.flag_raised.send(flag, session=session)
    return flag


def resolve(session: Session, flag_id: int, actor: str, note: str) -> Flag:
    flag = session.get(Flag, flag_id)
    if flag is None:
        raise FlagError(f"no flag {flag_id}")
    if flag.status != "open":
        raise FlagError(f"flag {flag_id} is already resolved")
    note = (note or "").strip()
    if not note:
        raise FlagError("say how the flag was resolved")
    flag.status, flag.resolved_at, flag.resolved_by, flag.resolution = "resolved", utcnow(), actor, note[:300]
    session.add(flag)
    audit.record(session, actor, "flag.resolved", "flag", flag.id, kind=flag.kind, note=flag.resolution)
    return flag


def open_flags(session: Session, loan_id: int | None = None, lenders: tuple[int, ...] | None = None) -> list[Flag]:
    """Open flags, oldest first; only those about `lenders`' loans and borrowers (None: all)."""
    query = select(Flag).where(Flag.status == "open").order_by(Flag.created_at, Flag.id)
    if loan_id is not None:
        query = query.where(Flag.loan_id == loan_id)
    return of_lenders(session, list(session.exec(query)), lenders)


def of_lenders(session: Session, items: list[Flag], lenders: tuple[int, ...] | None) -> list[Flag]:
    """The flags about `lenders`' loans, borrowers or payments (None: all). A flag no lender can be
    told from (a reversal that matched no payment, a payment to a shortcode no lender has) belongs to
    no lender: only None sees it."""
    if lenders is None:
        return items
    loan_ids = {f.loan_id for f in items if f.loan_id}
    paid = {pid: (partner_id, loan_id) for pid, partner_id, loan_id in session.exec(
        select(Payment.id, Payment.field_partner_id, Payment.loan_id).where(
            Payment.id.in_({f.payment_id for f in items if f.payment_id} or {-1}))).all()}
    loan_ids |= {loan_id for _, loan_id in paid.values() if loan_id}
    loan_lender = dict(session.exec(select(Loan.id, Borrower.field_partner_id)
                                    .join(Borrower, Borrower.id == Loan.borrower_id)
                                    .where(Loan.id.in_(loan_ids or {-1}))).all())
    borrower_lender = dict(session.exec(select(Borrower.id, Borrower.field_partner_id).where(
        Borrower.id.in_({f.borrower_id for f in items if f.borrower_id} or {-1}))).all())

    def lender(f: Flag) -> int | None:
        if f.loan_id:
            return loan_lender.get(f.loan_id)
        if f.borrower_id:
            return borrower_lender.get(f.borrower_id)
        if f.payment_id in paid:  # the lender whose paybill it was paid to, else its loan's
            partner_id, loan_id = paid[f.payment_id]
            return partner_id if partner_id is not None else loan_lender.get(loan_id)
        return None
    return [f for f in items if lender(f) in lenders]


def subjects(session: Session, items: list[Flag]) -> dict[int, tuple[str, str]]:
    """What each flag is about, as staff know it: flag id -> (account number, borrower's name)."""
    loan_ids = {f.loan_id for f in items if f.loan_id}
    borrower_ids = {f.borrower_id for f in items if f.borrower_id}
    loans = {lid: (ref, name) for lid, ref, name in session.exec(
        select(Loan.id, Loan.account_ref, Borrower.name).join(Borrower, Borrower.id == Loan.borrower_id)
        .where(Loan.id.in_(loan_ids or {-1}))).all()}
    people = dict(session.exec(select(Borrower.id, Borrower.name).where(Borrower.id.in_(borrower_ids or {-1}))).all())
    return {f.id: loans.get(f.loan_id) or ("", people.get(f.borrower_id, "")) for f in items}


def scan(session: Session, today: dt.date, settings: Settings | None = None,
         lenders: tuple[int, ...] | None = None) -> list[Flag]:
    """Look at the book of `lenders` (None: the whole book, and what belongs to no lender) and raise
    what is new. Safe to run as often as wanted."""
    settings = settings or Settings.from_env()
    loans = None if lenders is None else select(Loan.id).join(Borrower, Borrower.id == Loan.borrower_id).where(
        Borrower.field_partner_id.in_(lenders))
    raised = [*_default_eligible(session, today, settings, lenders), *_foreign_payers(session, lenders),
              *_reversals(session, settings, loans), *_overpayments(session, settings, loans),
              *_bad_numbers(session, lenders),
              *(_unmatched_reversals(session, settings) if lenders is None else ())]
    return [f for f in raised if f is not None]


def _default_eligible(session, today, settings, lenders=None):
    last_paid = dict(session.exec(
        select(LedgerEntry.loan_id, func.max(LedgerEntry.created_at))
        .where(LedgerEntry.payment_id.is_not(None), LedgerEntry.amount > 0).group_by(LedgerEntry.loan_id)
    ).all())
    disbursed = dict(session.exec(select(Loan.id, Loan.disbursed_on)).all())
    for row in portfolio.loan_arrears(session, today, lenders=lenders):
        if row.arrears <= 0 or row.outstanding <= 0:
            continue
        last = last_paid.get(row.loan_id)
        if isinstance(last, str):
            last = dt.datetime.fromisoformat(last)
        last_day = last.date() if last else disbursed.get(row.loan_id)
        quiet_days = (today - last_day).days if last_day else 0
        if row.days_past_due >= settings.ops_default_days:
            reason = N_("{days} days past due (limit {limit})")
            values = {"days": row.days_past_due, "limit": settings.ops_default_days}
        elif quiet_days >= settings.ops_default_no_payment_days:
            reason = N_("in arrears and no payment for {days} days (limit {limit})")
            values = {"days": quiet_days, "limit": settings.ops_default_no_payment_days}
        else:
            continue
        yield raise_flag(session, "default_eligible", str(row.loan_id), reason, values, loan_id=row.loan_id,
                         days_past_due=row.days_past_due, arrears=row.arrears)


def _foreign_payers(session, lenders=None):
    query = (select(Payment, Borrower).join(Loan, Loan.id == Payment.loan_id)
             .join(Borrower, Borrower.id == Loan.borrower_id)
             .where(Payment.status == PaymentStatus.posted, Payment.payer_phone != ""))
    if lenders is not None:
        query = query.where(Borrower.field_partner_id.in_(lenders))
    rows = session.exec(query).all()
    for payment, borrower in rows:
        fits = phones.same_number(payment.payer_phone, borrower.phone, borrower.country)
        if fits is not False:  # the same number, or a mask that may be it: only a clear mismatch is a flag
            continue
        payer = phones.try_normalize(payment.payer_phone, borrower.country)
        shown = phones.mask(payer) if payer else "".join(payment.payer_phone.split())
        yield raise_flag(session, "foreign_payer", str(payment.id), N_("paid from {phone}, not the borrower's number"),
                         {"phone": shown}, loan_id=payment.loan_id, borrower_id=borrower.id, payment_id=payment.id)


def _reversals(session, settings, loans=None):
    query = (select(Payment.loan_id, func.count(Payment.id))
             .where(Payment.status == PaymentStatus.reversed, Payment.loan_id.is_not(None))
             .group_by(Payment.loan_id).having(func.count(Payment.id) >= settings.ops_reversals_flag))
    rows = session.exec(query if loans is None else query.where(Payment.loan_id.in_(loans))).all()
    for loan_id, count in rows:
        yield raise_flag(session, "reversals", str(loan_id), N_("{count} payments reversed"), {"count": count},
                         loan_id=loan_id)


def _overpayments(session, settings, loans=None):
    factor = Decimal(settings.ops_overpayment_factor)
    credit = func.sum(LedgerEntry.amount)
    query = (select(Payment, credit).join(LedgerEntry, LedgerEntry.payment_id == Payment.id)
             .where(LedgerEntry.component == "credit", Payment.status == PaymentStatus.posted)
             .group_by(Payment.id).having(credit > 0))
    rows = session.exec(query if loans is None else query.where(Payment.loan_id.in_(loans))).all()
    for payment, extra in rows:
        owed = payment.amount - int(extra)  # the balance this payment cleared
        if Decimal(payment.amount) > factor * owed:
            yield raise_flag(session, "overpayment", str(payment.id),
                             N_("paid {amount} against a balance of {balance}"),
                             {"amount": payment.amount, "balance": owed}, currency=payment.currency,
                             loan_id=payment.loan_id, payment_id=payment.id, credit=int(extra))


def _bad_numbers(session, lenders=None):
    query = select(Message).where(Message.borrower_id.is_not(None), Message.status.in_(["failed", "undelivered"]))
    if lenders is not None:
        query = query.where(Message.borrower_id.in_(select(Borrower.id).where(Borrower.field_partner_id.in_(lenders))))
    failed = session.exec(query).all()
    for msg in failed:
        seen = {msg.status.lower(), (msg.failure_reason or "").lower()}
        for step in msg.status_history or []:
            if isinstance(step, dict):
                seen.update(str(v).lower() for v in step.values())
        hits = seen & BAD_NUMBER_REASONS
        if hits:
            yield raise_flag(session, "bad_number", str(msg.borrower_id),
                             N_("messages to {phone} fail permanently ({reason})"),
                             {"phone": phones.mask(msg.phone), "reason": sorted(hits)[0]},
                             borrower_id=msg.borrower_id, message_id=msg.id)


def _unmatched_reversals(session, settings):
    """A provider reversed a payment that has not reached us after REVERSAL_MATCH_HOURS: the
    money may have been receipted under another id, or the reversal is wrong."""
    cutoff = utcnow() - dt.timedelta(hours=settings.reversal_match_hours)
    rows = session.exec(select(PendingReversal).where(PendingReversal.status == ReversalStatus.waiting,
                                                      PendingReversal.received_at < cutoff)).all()
    for row in rows:
        yield raise_flag(session, "reversal_unmatched", str(row.id),
                         N_("reversal {reversal} of {receipt} ({provider}) has had no payment for {hours} hours"),
                         {"reversal": row.reversal_txn_id, "receipt": row.original_txn_id, "provider": row.provider,
                          "hours": settings.reversal_match_hours}, pending_reversal_id=row.id)
