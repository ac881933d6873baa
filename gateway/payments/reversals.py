"""Payments taken back: by the provider (M-Pesa reversal, AT 'Reversed') or by an operator.
Nothing is deleted: the ledger gets compensating entries (gateway.ledger.reverse_payment).

A provider may report a reversal before the payment itself reaches us: it then waits as a
PendingReversal (no attempt cap) and takes the payment back in the transaction that records it
(`take_back_on_arrival`), before anything is allocated, receipted or turned into a PAYG code."""
from __future__ import annotations

from sqlmodel import Session, select

from gateway import audit, ledger
from gateway.db import utcnow
from gateway.i18n import Speaker
from gateway.inbox import advisory_lock, insert_once
from gateway.messaging import payment_message_key, queue_sms
from gateway.messaging.context import borrower_vars
from gateway.models import (
    Borrower,
    Loan,
    Message,
    Payment,
    PaymentReversal,
    PaymentStatus,
    PendingReversal,
    RawCallback,
    ReversalStatus,
)
from gateway.payments.events import Reversal


def locked_payment(session: Session, payment_id: int) -> Payment | None:
    return session.exec(select(Payment).where(Payment.id == payment_id).with_for_update()).one_or_none()


def receipt_key(provider: str, txn_id: str) -> str:
    """The advisory-lock key of one receipt (what `lock_receipt` locks)."""
    return f"receipt:{provider}:{txn_id}"


def lock_receipt(session: Session, provider: str, txn_id: str) -> None:
    """Serialize everything about one receipt (its payment, its reversal) until commit, so a
    reversal and its payment arriving at the same instant cannot both miss each other. SQLite
    writes one transaction at a time already."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(advisory_lock(receipt_key(provider, txn_id))))


def reverse(session: Session, payment: Payment, *, provider: str, reversal_txn_id: str, actor: str,
            reason: str) -> bool:
    """Unwind a payment once: the PaymentReversal row's unique constraints make a replayed or
    concurrent reversal a no-op. True if this call reversed it. A borrower who was told the money
    arrived (receipt or PAYG code) is told it was reversed."""
    payment = locked_payment(session, payment.id)
    if payment.status in (PaymentStatus.reversed, PaymentStatus.refunded):
        return False
    row = PaymentReversal(payment_id=payment.id, provider=provider, provider_txn_id=reversal_txn_id,
                          actor=actor, reason=reason[:200])
    if not insert_once(session, row):
        return False
    ledger.reverse_payment(session, payment, actor, reason)
    _tell_borrower(session, payment)
    return True


def _tell_borrower(session: Session, payment: Payment) -> None:
    told = session.exec(select(Message.id).where(Message.dedupe_key == payment_message_key(payment.id))).first()
    loan = session.get(Loan, payment.loan_id) if payment.loan_id else None
    if told is None or loan is None:
        return
    borrower = session.get(Borrower, loan.borrower_id)
    bal = ledger.balance(session, loan, Speaker.for_borrower(borrower).today())
    queue_sms(session, borrower, "payment_reversed", kind="transactional", dedupe_key=f"reversed:{payment.id}",
              amount=payment.amount, currency=payment.currency, account_ref=loan.account_ref,
              balance=bal.net_outstanding, **borrower_vars(session, borrower))


def reverse_reported(session: Session, raw: RawCallback, reversal: Reversal) -> None:
    """A provider reports a payment reversed. If we have not received that payment (yet), the
    reversal waits for it."""
    lock_receipt(session, reversal.provider, reversal.original_txn_id)
    payment = session.exec(select(Payment).where(Payment.provider == reversal.provider,
                                                 Payment.provider_txn_id == reversal.original_txn_id)).first()
    if payment is None:
        waiting = PendingReversal(provider=reversal.provider, original_txn_id=reversal.original_txn_id,
                                  reversal_txn_id=reversal.reversal_txn_id, reason=reversal.reason[:200])
        if insert_once(session, waiting):
            audit.record(session, reversal.provider, "reversal.waiting", "pending_reversal", waiting.id,
                         original_txn_id=reversal.original_txn_id, reversal_txn_id=reversal.reversal_txn_id)
        raw.error = f"reversal waiting for payment {reversal.original_txn_id}, which we have not received"
        return
    raw.payment_id = payment.id
    reverse(session, payment, provider=reversal.provider, reversal_txn_id=reversal.reversal_txn_id,
            actor=reversal.provider, reason=reversal.reason)


def take_back_on_arrival(session: Session, payment: Payment) -> bool:
    """The payment just recorded was reversed before it reached us: record it reversed now, in
    the same transaction (never allocated, never receipted). True if it was."""
    waiting = session.exec(select(PendingReversal).where(
        PendingReversal.provider == payment.provider, PendingReversal.original_txn_id == payment.provider_txn_id,
        PendingReversal.status == ReversalStatus.waiting).with_for_update()
        # (not flushing first: the callback's audit rows go in with the raw callback, one statement)
        .execution_options(autoflush=False)).first()
    if waiting is None:
        return False
    reverse(session, payment, provider=waiting.provider, reversal_txn_id=waiting.reversal_txn_id,
            actor=waiting.provider, reason=waiting.reason)
    waiting.status, waiting.payment_id, waiting.matched_at = ReversalStatus.matched, payment.id, utcnow()
    session.add(waiting)
    audit.record(session, "system", "reversal.matched", "pending_reversal", waiting.id, payment_id=payment.id)
    return True

