"""Payments jobs (queue "payments"). Each takes ids, loads rows, calls the service; safe to run twice."""
from __future__ import annotations

import logging

from rq import Retry, get_current_job
from sqlalchemy import update

from gateway import audit
from gateway.config import Settings
from gateway.db import session_scope, utcnow
from gateway.models import Loan, PaymentIntent
from gateway.payments import service
from gateway.providers.mpesa.client import DarajaClient, MpesaError

log = logging.getLogger(__name__)


class PushNotSentYet(Exception):
    """The STK push could not be sent yet (M-Pesa's OAuth failed): RQ runs the job again."""


def push_retry(settings: Settings | None = None) -> Retry | None:
    """RQ's retry policy for start_stk_push: MPESA_PUSH_RETRIES more tries, backoff doubling."""
    settings = settings or Settings.from_env()
    base, n = settings.mpesa_retry_base_seconds, settings.mpesa_push_retries
    return Retry(max=n, interval=[base * 2 ** k for k in range(n)]) if n > 0 else None


def _retries_left() -> int:
    job = get_current_job()
    return int(job.retries_left or 0) if job is not None else 0


def post_payment(payment_id: int) -> str:
    """Match and allocate a received payment (or put it in suspense); receipt SMS queued."""
    with session_scope() as session:
        payment = service.settle(session, payment_id)
        return payment.status if payment else "unknown payment"


def start_stk_push(intent_id: int) -> str:
    """Ask M-Pesa to prompt the borrower's phone. The intent is claimed (pending -> sending) in
    its own transaction first, so a second run of this job never pushes twice. If the push could
    not be sent yet (OAuth failed) and RQ has retries left (`push_retry`), the intent goes back to
    pending with the reason and the job raises for RQ to run it again; otherwise it fails, and the
    borrower gets an SMS saying why."""
    settings = Settings.from_env()
    with session_scope(settings) as session:
        claimed = session.execute(update(PaymentIntent).where(PaymentIntent.id == intent_id,
                                                           PaymentIntent.status == "pending")
                               .values(status="sending")).rowcount
        if not claimed:
            return "already started"
        intent = session.get(PaymentIntent, intent_id)
        loan = session.get(Loan, intent.loan_id)
    try:
        reply = DarajaClient(settings).stk_push(
            phone=intent.phone, amount_minor=intent.amount, currency=intent.currency,
            account_reference=loan.account_ref, description=f"Loan {loan.account_ref}",
            callback_url=service.stk_callback_url(settings))
    except MpesaError as exc:
        retry = exc.retryable and _retries_left() > 0
        log.warning("STK push for intent %s failed: %s%s", intent_id, exc, ", will retry" if retry else "")
        with session_scope(settings) as session:
            intent = session.get(PaymentIntent, intent_id)
            intent.result_code, intent.result_desc = exc.code[:20], str(exc)[:200]
            if retry:
                intent.status = "pending"  # claimable again by the retry
                audit.record(session, "system", "payment_intent.retrying", "payment_intent", intent.id,
                             result_code=exc.code, result_desc=str(exc)[:200], retries_left=_retries_left())
            else:
                intent.status, intent.settled_at = "failed", utcnow()
                audit.record(session, "system", "payment_intent.failed", "payment_intent", intent.id,
                             result_code=exc.code, result_desc=str(exc)[:200])
                service.queue_stk_failed_sms(session, intent, session.get(Loan, intent.loan_id),
                                             "unreachable" if exc.code == "unreachable" else exc.code)
            session.add(intent)
        if retry:
            raise PushNotSentYet(f"intent {intent_id}: {exc}")
        return "failed"
    with session_scope(settings) as session:
        intent = session.get(PaymentIntent, intent_id)
        intent.merchant_request_id = reply.merchant_request_id
        intent.checkout_request_id = reply.checkout_request_id
        intent.status = "sent"
        session.add(intent)
        audit.record(session, "system", "payment_intent.sent", "payment_intent", intent.id,
                     checkout_request_id=reply.checkout_request_id)
        session.flush()
        service.settle_early_stk_callbacks(session, settings, intent)
    return "sent"
