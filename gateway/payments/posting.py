"""Every way money reaches us ends in `record_payment` (idempotent on the provider's transaction
id, by the database) and is allocated later by `settle`, in the post_payment job.

A callback is stored with its payment in one transaction and committed before it is answered;
allocation and the receipt SMS happen in the job, enqueued only after that commit, and the
sweeper re-enqueues anything left behind (Redis down)."""
from __future__ import annotations

from sqlmodel import Session, select

from gateway import audit, jobs, ledger, outbox
from gateway.i18n import Speaker
from gateway.inbox import insert_once
from gateway.messaging import payment_message_key, queue_sms
from gateway.messaging.context import borrower_vars
from gateway.models import Borrower, Loan, Payment, PaymentStatus
from gateway.payments import conflicts, matching
from gateway.payments.events import Incoming
from gateway.payments.reversals import locked_payment, receipt_key, take_back_on_arrival


def record_payment(session: Session, incoming: Incoming, actor: str,
                   lender_id: int | None = None) -> tuple[Payment, bool]:
    """Store the payment once per (provider, transaction id); (payment, True) the first time.
    Allocation is queued for after the commit, unless a reversal was waiting for this payment: it
    is then recorded reversed, in this transaction. The shortcode paid selects the lender whose loans
    it may go to (`lender_id` when the caller knows it, e.g. an STK push's loan); a shortcode no lender
    has is kept in suspense for review, never posted."""
    unknown = ""
    if lender_id is None:
        lender_id, unknown = matching.lender_of_shortcode(session, incoming.shortcode)
    payment = Payment(provider=incoming.provider, provider_txn_id=incoming.txn_id, amount=incoming.amount,
                      currency=incoming.currency, payer_phone=incoming.payer_phone[:32],
                      account_ref=incoming.account_ref[:40], paid_at=incoming.paid_at, field_partner_id=lender_id)
    # the receipt's lock (see reversals.lock_receipt) taken by the insert itself
    if not insert_once(session, payment, lock_key=receipt_key(incoming.provider, incoming.txn_id)):
        payment = session.exec(select(Payment).where(Payment.provider == incoming.provider,
                                                     Payment.provider_txn_id == incoming.txn_id)).one()
        if conflicts.conflicts(payment, incoming):
            conflicts.keep_conflict(session, payment, incoming, actor)
        return payment, False
    audit.record(session, actor, "payment.received", "payment", payment.id, provider=payment.provider,
                 provider_txn_id=payment.provider_txn_id, amount=payment.amount, currency=payment.currency,
                 account_ref=payment.account_ref)
    if take_back_on_arrival(session, payment):
        return payment, True
    if unknown:
        _suspend(session, payment, unknown)
    else:
        outbox.after_commit(session, jobs.POST_PAYMENT, payment.id)
    return payment, True


def _suspend(session: Session, payment: Payment, note: str) -> None:
    payment.status = PaymentStatus.suspense
    payment.note = note[:200]
    session.add(payment)
    audit.record(session, "system", "payment.suspense", "payment", payment.id, reason=note,
                 account_ref=payment.account_ref, amount=payment.amount, currency=payment.currency)


def settle(session: Session, payment_id: int) -> Payment | None:
    """Match a received payment to a loan and post it, or put it in suspense. Does nothing to a
    payment that is already posted, in suspense, reversed or refunded (safe to run twice)."""
    payment = locked_payment(session, payment_id)
    if payment is None or payment.status != PaymentStatus.received:
        return payment
    found = matching.match(session, payment)
    if found.loan is not None and found.loan.currency == payment.currency:
        post_to_loan(session, payment, found.loan, actor="system", rule=found.rule)
        return payment
    if found.loan is not None:
        # Wrong currency: the money did arrive, so it is not rejected; an operator refunds it.
        note = f"paid in {payment.currency}; loan {found.loan.account_ref} is in {found.loan.currency}"
    else:
        note = found.rule
    _suspend(session, payment, note)
    return payment


def post_to_loan(session: Session, payment: Payment, loan: Loan, actor: str, rule: str) -> None:
    ledger.post_payment(session, payment, loan.id, actor=actor)
    audit.record(session, actor, "payment.matched", "payment", payment.id, loan_id=loan.id, rule=rule)
    queue_receipt(session, payment, loan)


def queue_receipt(session: Session, payment: Payment, loan: Loan):
    """'Jirani: We received KSh 500 for loan SOL12345. Balance KSh 4,500. Overdue KSh 500 since 12 Nov.
    Next due 12 Dec.' (what is late, then the next date still to come). One SMS per
    payment: a subscriber of payment_posted (a PAYG code) that already texted about this payment
    under the same key has said the money arrived, and this returns that message."""
    borrower = session.get(Borrower, loan.borrower_id)
    bal = ledger.balance(session, loan, Speaker.for_borrower(borrower).today())
    return queue_sms(session, borrower, "payment_receipt", kind="transactional",
                     dedupe_key=payment_message_key(payment.id), amount=payment.amount, currency=payment.currency,
                     account_ref=loan.account_ref, balance=bal.net_outstanding, arrears=bal.arrears,
                     overdue_since=bal.overdue_since, next_due=bal.next_due_date, **borrower_vars(session, borrower))
