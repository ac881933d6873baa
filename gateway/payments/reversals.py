"""Payments taken back: by the provider (M-Pesa reversal, AT 'Reversed') or by an operator.
Nothing is deleted: the ledger gets compensating entries (gateway.ledger.reverse_payment)."""
from __future__ import annotations

from sqlmodel import Session, select

from gateway import ledger
from gateway.inbox import NotYet, insert_once
from gateway.models import Payment, PaymentStatus, RawCallback
from gateway.models.payments import PaymentReversal
from gateway.payments.events import Reversal
from gateway.payments.posting import locked_payment


def reverse(session: Session, payment: Payment, *, provider: str, reversal_txn_id: str, actor: str,
            reason: str) -> bool:
    """Unwind a payment once: the PaymentReversal row's unique constraints make a replayed or
    concurrent reversal a no-op. True if this call reversed it."""
    payment = locked_payment(session, payment.id)
    if payment.status in (PaymentStatus.reversed, PaymentStatus.refunded):
        return False
    row = PaymentReversal(payment_id=payment.id, provider=provider, provider_txn_id=reversal_txn_id,
                          actor=actor, reason=reason[:200])
    if not insert_once(session, row):
        return False
    ledger.reverse_payment(session, payment, actor, reason)
    return True


def reverse_reported(session: Session, raw: RawCallback, reversal: Reversal) -> None:
    """A provider reports a payment reversed. If we have not received that payment (yet), the
    callback is kept and retried (NotYet)."""
    payment = session.exec(select(Payment).where(Payment.provider == reversal.provider,
                                                 Payment.provider_txn_id == reversal.original_txn_id)).first()
    if payment is None:
        raise NotYet(f"reversal of {reversal.provider} {reversal.original_txn_id}, which we have not received")
    raw.payment_id = payment.id
    reverse(session, payment, provider=reversal.provider, reversal_txn_id=reversal.reversal_txn_id,
            actor=reversal.provider, reason=reversal.reason)
