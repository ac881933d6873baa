"""Which loan does a payment belong to? An ordered list of rules; the first that names exactly
one loan wins. Nothing matched (or the currency is wrong) means suspense: an operator decides."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session, select

from gateway import phones
from gateway.borrowers.accounts import normalize_account_ref
from gateway.models import Borrower, Loan, LoanStatus, Payment


@dataclass(frozen=True)
class Match:
    loan: Loan | None
    rule: str  # which rule found the loan, or why none did


def by_account_ref(session: Session, payment: Payment) -> Loan | None:
    """What the payer typed as the account number, ignoring case, spaces and dashes."""
    ref = normalize_account_ref(payment.account_ref)
    if not ref:
        return None
    return session.exec(select(Loan).where(Loan.account_ref == ref)).first()


def by_payer_phone(session: Session, payment: Payment) -> Loan | None:
    """The payer's number belongs to a borrower with exactly one active loan. M-Pesa masks the
    MSISDN in C2B callbacks now, so this mostly helps STK and AT payments."""
    phone = phones.try_normalize(payment.payer_phone) if payment.payer_phone else None
    if not phone:
        return None
    loans = session.exec(select(Loan).join(Borrower, Borrower.id == Loan.borrower_id).where(
        Borrower.phone == phone, Loan.status == LoanStatus.active)).all()
    return loans[0] if len(loans) == 1 else None


RULES: list[tuple[str, Callable[[Session, Payment], Loan | None]]] = [
    ("account_ref", by_account_ref),
    ("payer_phone", by_payer_phone),
]


def match(session: Session, payment: Payment) -> Match:
    for name, rule in RULES:
        loan = rule(session, payment)
        if loan is not None:
            return Match(loan, name)
    return Match(None, "no loan matches the account number or the payer's phone")


def account_exists(session: Session, raw_ref: str) -> bool:
    ref = normalize_account_ref(raw_ref)
    return bool(ref) and session.exec(select(Loan.id).where(Loan.account_ref == ref)).first() is not None
