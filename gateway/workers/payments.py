"""Payments jobs (queue "payments", declared in gateway/jobs.py). Each takes ids, calls the
payments domain, and is safe to run twice."""
from __future__ import annotations

import datetime as dt
import logging

from rq import get_current_job

from gateway.config import Settings
from gateway.db import session_scope, utcnow
from gateway.lenders.partners import PartnerError
from gateway.models import Loan
from gateway.payments import intents, posting
from gateway.providers.mpesa.callbacks import settle_early_stk_callbacks, stk_callback_url
from gateway.providers.mpesa.client import DarajaClient, MpesaError

log = logging.getLogger(__name__)


class PushNotSentYet(Exception):
    """The STK push could not be sent yet (M-Pesa's OAuth failed): RQ runs the job again."""


def _retries_left() -> int:
    job = get_current_job()
    return int(job.retries_left or 0) if job is not None else 0


def post_payment(payment_id: int) -> str:
    """Match and allocate a received payment (or put it in suspense); receipt SMS queued."""
    with session_scope() as session:
        payment = posting.settle(session, payment_id)
        return payment.status if payment else "unknown payment"


def start_stk_push(intent_id: int) -> str:
    """Ask M-Pesa to prompt the borrower's phone. The intent is claimed (pending -> sending) in
    its own transaction first, so a second run of this job never pushes twice. If the push could
    not be sent yet (OAuth failed) and RQ has retries left (jobs.START_STK_PUSH), the intent goes
    back to pending with the reason and the job raises for RQ to run it again; otherwise it fails,
    and the borrower gets an SMS saying why."""
    settings = Settings.from_env()
    with session_scope(settings) as session:
        claimed = intents.claim(session, intent_id)
        if claimed is None:
            return "already started"
        intent, loan = claimed
        lender = _lender_settings(session, settings, loan)
    try:
        if isinstance(lender, MpesaError):
            raise lender
        reply = DarajaClient(lender).stk_push(
            phone=intent.phone, amount_minor=intent.amount, currency=intent.currency,
            account_reference=loan.account_ref, description=f"Loan {loan.account_ref}",
            callback_url=stk_callback_url(settings))
    except MpesaError as exc:
        retry = exc.retryable and _retries_left() > 0
        log.warning("STK push for intent %s failed: %s%s", intent_id, exc, ", will retry" if retry else "")
        with session_scope(settings) as session:
            intents.push_failed(session, intent_id, "unreachable" if exc.code == "unreachable" else exc.code,
                                str(exc), retry, _retries_left())
        if retry:
            raise PushNotSentYet(f"intent {intent_id}: {exc}") from None
        return "failed"
    with session_scope(settings) as session:
        intent = intents.push_sent(session, intent_id, reply.merchant_request_id, reply.checkout_request_id)
        settle_early_stk_callbacks(session, settings, intent)
    return "sent"


def _lender_settings(session, settings: Settings, loan: Loan) -> Settings | MpesaError:
    """The loan's lender's M-Pesa shortcode and credentials (gateway/payments/intents.py)."""
    try:
        return intents.daraja_settings(session, settings, loan)
    except PartnerError as exc:
        return MpesaError(str(exc), code="not_configured")


def query_unanswered_intents(settings: Settings) -> dict:
    """STK intents still `sent` STK_QUERY_AFTER_MINUTES after the push (the callback never came):
    ask M-Pesa how the prompt ended and settle them; "still processing" is asked again at the next
    sweep, until STK_QUERY_GIVE_UP_MINUTES. Run by the sweeper; idempotent."""
    now = utcnow()
    give_up_before = now - dt.timedelta(minutes=settings.stk_query_give_up_minutes)
    with session_scope(settings) as session:
        waiting = [(i.id, i.checkout_request_id, i.created_at, _lender_settings(session, settings,
                                                                                  session.get(Loan, i.loan_id)))
                   for i in intents.waiting_for_answer(session, now - dt.timedelta(
                       minutes=settings.stk_query_after_minutes))]
    counts = {"settled": 0, "still_open": 0, "gave_up": 0}
    for intent_id, checkout_id, created_at, lender in waiting:  # each asked of the account that prompted it
        try:
            if isinstance(lender, MpesaError):
                raise lender
            reply = DarajaClient(lender).stk_query(checkout_id) if checkout_id else None
        except MpesaError as exc:
            log.warning("STK query for intent %s failed: %s", intent_id, exc)
            reply = None
        with session_scope(settings) as session:
            if reply is not None and reply.result_code is not None:
                intents.settle_from_query(session, intent_id, reply.result_code, reply.result_desc)
                counts["settled"] += 1
            elif created_at <= give_up_before:
                intents.no_final_answer(session, intent_id)
                counts["gave_up"] += 1
            else:
                counts["still_open"] += 1
    return counts
