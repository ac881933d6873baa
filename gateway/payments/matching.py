"""Which loan does a payment belong to? An ordered list of rules; the first that names exactly
one loan wins. Nothing matched (or the currency is wrong) means suspense: an operator decides.

Many lenders on one gateway: the shortcode a payment was sent to selects its lender
(`lender_of_shortcode`), and only that lender's loans are matched. A shortcode no lender has puts
the payment in suspense ("unknown shortcode ..."), never on a loan. While no lender has registered
a shortcode at all (a single-lender deployment), every loan is matched, as before."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session, select

from gateway import phones
from gateway.borrowers.accounts import normalize_account_ref
from gateway.lenders import partners
from gateway.models import Borrower, CodeKind, LenderCode, Loan, LoanStatus, Payment


@dataclass(frozen=True)
class Match:
    loan: Loan | None
    rule: str  # which rule found the loan, or why none did


UNKNOWN_SHORTCODE = "unknown shortcode {shortcode}"


def lender_of_shortcode(session: Session, shortcode: str) -> tuple[int | None, str]:
    """(the lender paid through this shortcode, "") or (None, why it cannot be matched). (None, "") when
    the payment does not name a shortcode or no lender has registered one: every loan may match."""
    shortcode = (shortcode or "").strip()
    if not shortcode or session.exec(select(LenderCode.id).where(LenderCode.kind == CodeKind.SHORTCODE)).first() \
            is None:
        return None, ""
    partner = partners.for_shortcode(session, shortcode)
    if partner is None:
        return None, UNKNOWN_SHORTCODE.format(shortcode=shortcode[:20])
    return partner.id, ""


def _of_lender(statement, lender_id: int | None):
    if lender_id is None:
        return statement
    return statement.join(Borrower, Borrower.id == Loan.borrower_id).where(Borrower.field_partner_id == lender_id)


def by_account_ref(session: Session, payment: Payment) -> Loan | None:
    """What the payer typed as the account number, ignoring case, spaces and dashes (among the loans of
    the lender whose shortcode was paid, when known)."""
    ref = normalize_account_ref(payment.account_ref)
    if not ref:
        return None
    return session.exec(_of_lender(select(Loan).where(Loan.account_ref == ref), payment.field_partner_id)).first()


def by_payer_phone(session: Session, payment: Payment) -> Loan | None:
    """The payer's number belongs to a borrower with exactly one active loan. M-Pesa masks the
    MSISDN in C2B callbacks now, so this mostly helps STK and AT payments. A person borrowing from two
    lenders has a borrower row at each: with no lender known, two active loans match nothing."""
    phone = phones.try_normalize(payment.payer_phone) if payment.payer_phone else None
    if not phone:
        return None
    statement = select(Loan).join(Borrower, Borrower.id == Loan.borrower_id).where(
        Borrower.phone == phone, Loan.status == LoanStatus.active)
    if payment.field_partner_id is not None:
        statement = statement.where(Borrower.field_partner_id == payment.field_partner_id)
    loans = session.exec(statement).all()
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


def account_exists(session: Session, raw_ref: str, lender_id: int | None = None) -> bool:
    ref = normalize_account_ref(raw_ref)
    return bool(ref) and session.exec(_of_lender(select(Loan.id).where(Loan.account_ref == ref),
                                                 lender_id)).first() is not None
