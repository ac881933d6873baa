"""Payments no loan matched ("suspense"), and an operator putting them on the right loan.

Minimal on purpose: the payments domain owns the full suspense service; this resolves through
the same `ledger.post_payment`, so the ledger rules are the same either way.
"""
from __future__ import annotations

from sqlmodel import Session, select

from gateway import audit
from gateway.models import Loan, Payment, PaymentStatus
from gateway.services import ledger, onboarding


class SuspenseError(ValueError):
    pass


def suspense_payments(session: Session) -> list[Payment]:
    return list(session.exec(select(Payment).where(Payment.status == PaymentStatus.suspense)
                             .order_by(Payment.received_at, Payment.id)))


def resolve(session: Session, payment_id: int, account_ref: str, actor: str, note: str = "") -> Payment:
    payment = session.exec(select(Payment).where(Payment.id == payment_id).with_for_update()).first()
    if payment is None:
        raise SuspenseError(f"no payment {payment_id}")
    if payment.status != PaymentStatus.suspense:
        raise SuspenseError(f"payment {payment.provider_txn_id} is {payment.status}, not in suspense")
    ref = onboarding.normalize_account_ref(account_ref)
    loan = session.exec(select(Loan).where(Loan.account_ref == ref)).first()
    if loan is None:
        raise SuspenseError(f"no loan with account {ref or account_ref or '(empty)'}")
    try:
        ledger.post_payment(session, payment, loan.id, actor=actor)
    except ledger.LedgerError as exc:
        raise SuspenseError(str(exc)) from None
    audit.record(session, actor, "suspense.resolved", "payment", payment.id, loan_id=loan.id,
                 account_ref=loan.account_ref, note=(note or "").strip()[:300])
    return payment
