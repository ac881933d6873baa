"""What an operator does with payments: put a suspense payment on a loan, refund it, reverse a
payment. Each is audited; each refuses clearly (PaymentError) what cannot be done."""
from __future__ import annotations

from sqlmodel import Session, select

from gateway import audit, phones
from gateway.borrowers.accounts import normalize_account_ref
from gateway.models import Borrower, Loan, Payment, PaymentStatus
from gateway.payments.posting import locked_payment, post_to_loan
from gateway.payments.reversals import reverse


class PaymentError(Exception):
    """An operator action that cannot be done (HTTP status for the API)."""

    def __init__(self, status: int, error: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


def _suspended(session: Session, payment_id: int) -> Payment:
    payment = locked_payment(session, payment_id)
    if payment is None:
        raise PaymentError(404, "not_found", f"no payment {payment_id}")
    if payment.status != PaymentStatus.suspense:
        raise PaymentError(409, "not_in_suspense", f"payment {payment_id} is {payment.status}, not in suspense")
    return payment


def assign(session: Session, payment_id: int, account_ref: str, actor: str) -> Payment:
    """An operator puts a suspense payment on a loan: posted, receipted, audited."""
    payment = _suspended(session, payment_id)
    ref = normalize_account_ref(account_ref)
    loan = session.exec(select(Loan).where(Loan.account_ref == ref)).first() if ref else None
    if loan is None:
        raise PaymentError(404, "unknown_loan", f"no loan with account number {account_ref!r}")
    if payment.field_partner_id is not None and \
            session.get(Borrower, loan.borrower_id).field_partner_id != payment.field_partner_id:
        raise PaymentError(409, "other_lender", f"the payment was made to another lender's paybill than loan "
                                                f"{loan.account_ref}'s: refund it")
    if loan.currency != payment.currency:
        raise PaymentError(409, "currency_mismatch",
                           f"payment is in {payment.currency}, loan {loan.account_ref} is in {loan.currency}: "
                           "refund it")
    audit.record(session, actor, "payment.assigned", "payment", payment.id, loan_id=loan.id,
                 account_ref=loan.account_ref, previous_note=payment.note)
    payment.note = ""
    post_to_loan(session, payment, loan, actor=actor, rule="operator")
    return payment


def refund(session: Session, payment_id: int, actor: str, reason: str) -> Payment:
    """Mark a suspense payment as refunded (the money goes back outside the gateway)."""
    payment = _suspended(session, payment_id)
    payment.status = PaymentStatus.refunded
    payment.note = (reason or "refunded")[:200]
    session.add(payment)
    audit.record(session, actor, "payment.refunded", "payment", payment.id, reason=reason,
                 amount=payment.amount, currency=payment.currency, payer_phone=phones.mask(payment.payer_phone))
    return payment


def reverse_by_operator(session: Session, payment_id: int, actor: str, reason: str) -> Payment:
    payment = locked_payment(session, payment_id)
    if payment is None:
        raise PaymentError(404, "not_found", f"no payment {payment_id}")
    if not reverse(session, payment, provider="operator", reversal_txn_id=f"payment:{payment.id}",
                   actor=actor, reason=reason or "reversed by operator"):
        raise PaymentError(409, "not_reversible", f"payment {payment_id} is {payment.status}")
    return payment


def suspense_list(session: Session, lenders: tuple[int, ...] | None = None) -> list[Payment]:
    """Payments in suspense; with `lenders`, only those paid to their paybills or on their loans: a payment
    to a shortcode no lender has that matched no loan belongs to no lender yet (None, the platform role or
    the only lender, sees it). The console and the API both list them so."""
    payments = list(session.exec(select(Payment).where(Payment.status == PaymentStatus.suspense)
                                 .order_by(Payment.received_at, Payment.id)))
    if lenders is None:
        return payments
    mine = set(session.exec(select(Loan.id).join(Borrower, Borrower.id == Loan.borrower_id).where(
        Loan.id.in_({p.loan_id for p in payments if p.loan_id} or {-1}), Borrower.field_partner_id.in_(lenders))))
    return [p for p in payments
            if (p.field_partner_id in lenders if p.field_partner_id is not None else p.loan_id in mine)]
