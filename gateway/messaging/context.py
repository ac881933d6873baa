"""Variables every borrower-facing SMS can use: who is writing and how to pay them."""
from __future__ import annotations

from sqlmodel import Session

from gateway.models import Borrower, FieldPartner


def borrower_vars(session: Session, borrower: Borrower) -> dict:
    partner = session.get(FieldPartner, borrower.field_partner_id)
    return dict(lender=partner.name, help_line=partner.help_line, paybill=partner.paybill,
                name=(borrower.name.split() or [borrower.name])[0])  # first name keeps SMS short
