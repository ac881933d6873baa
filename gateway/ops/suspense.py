"""Suspense payments in the console: a thin layer over the payments domain's own service
(gateway.payments.operators), which posts, receipts and audits; errors become SuspenseError so
console and API show them as a clear message."""
from __future__ import annotations

from sqlmodel import Session

from gateway.models import Payment
from gateway.payments import operators


class SuspenseError(ValueError):
    pass


def suspense_payments(session: Session, lenders: tuple[int, ...] | None = None) -> list[Payment]:
    """Payments in suspense of `lenders` (None: all; gateway.payments.operators.suspense_list)."""
    return operators.suspense_list(session, lenders)


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
