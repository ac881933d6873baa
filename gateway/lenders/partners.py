"""Lenders (field partners): added and changed with documented commands, audited."""
from __future__ import annotations

from sqlmodel import Session, select

from gateway import audit
from gateway.models import FieldPartner

CHANGEABLE = ("help_line", "paybill", "country")


class PartnerError(ValueError):
    """A lender change that cannot be made; the message says why."""


def find(session: Session, name: str) -> FieldPartner:
    partner = session.exec(select(FieldPartner).where(FieldPartner.name == name.strip())).first()
    if partner is None:
        known = ", ".join(session.exec(select(FieldPartner.name).order_by(FieldPartner.name))) or "none yet"
        raise PartnerError(f"no lender named {name!r} (known: {known})")
    return partner


def _check(values: dict) -> dict:
    country = values.get("country")
    if country is not None and not (len(country) == 2 and country.isalpha()):
        raise PartnerError("country is a two-letter ISO code, e.g. KE")
    paybill = values.get("paybill")
    if paybill and not paybill.isdigit():
        raise PartnerError("paybill is the M-Pesa business number: digits only")
    return {k: (v.upper() if k == "country" else v.strip()) for k, v in values.items() if v is not None}


def add(session: Session, name: str, actor: str, *, help_line: str, paybill: str = "",
        country: str = "KE") -> FieldPartner:
    if not name.strip():
        raise PartnerError("a name is required")
    if session.exec(select(FieldPartner.id).where(FieldPartner.name == name.strip())).first():
        raise PartnerError(f"a lender named {name!r} exists already")
    partner = FieldPartner(name=name.strip()[:120], **_check(dict(help_line=help_line, paybill=paybill,
                                                                   country=country)))
    session.add(partner)
    session.flush()
    audit.record(session, actor, "partner.added", "field_partner", partner.id, name=partner.name)
    return partner


def change(session: Session, partner: FieldPartner, actor: str, **values) -> FieldPartner:
    changes = _check({k: v for k, v in values.items() if k in CHANGEABLE})
    before = {k: getattr(partner, k) for k in changes}
    for key, value in changes.items():
        setattr(partner, key, value)
    session.add(partner)
    audit.record(session, actor, "partner.changed", "field_partner", partner.id, before=before, after=changes)
    return partner
