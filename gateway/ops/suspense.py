"""Suspense payments in the console: a thin layer over the payments domain's own service
(gateway.payments.operators), which posts, receipts and audits; errors become SuspenseError so
console and API show them as a clear message."""
from __future__ import annotations

from sqlmodel import Session, select

from gateway.models import Borrower, Loan, Payment
from gateway.payments import operators


class SuspenseError(ValueError):
    pass


def suspense_payments(session: Session, lenders: tuple[int, ...] | None = None) -> list[Payment]:
    """Payments in suspense; with `lenders`, only those paid to their paybills or on their loans: a payment
    to a shortcode no lender has that matched no loan belongs to no lender yet (None, the platform role or
    the only lender, sees it)."""
    return of_lenders(session, operators.suspense_list(session), lenders)


def of_lenders(session: Session, payments: list[Payment], lenders: tuple[int, ...] | None) -> list[Payment]:
    if lenders is None:
        return payments
    mine = set(session.exec(select(Loan.id).join(Borrower, Borrower.id == Loan.borrower_id).where(
        Loan.id.in_({p.loan_id for p in payments if p.loan_id} or {-1}), Borrower.field_partner_id.in_(lenders))))
    return [p for p in payments
            if (p.field_partner_id in lenders if p.field_partner_id is not None else p.loan_id in mine)]


def resolve(session: Session, payment_id: int, account_ref: str, actor: str) -> Payment:
    """Put a suspense payment on the loan with this account number."""
    if not (account_ref or "").strip():
        raise SuspenseError("give the loan's account number")
    try:
        return operators.assign(session, payment_id, account_ref, actor)
    except operators.PaymentError as exc:
        raise SuspenseError(exc.detail) from None


def refund(session: Session, payment_id: int, actor: str, reason: str) -> Payment:
    if not (reason or "").strip():
        raise SuspenseError("give a reason")
    try:
        return operators.refund(session, payment_id, actor, reason.strip())
    except operators.PaymentError as exc:
        raise SuspenseError(exc.detail) from None
