"""Sending one stored SMS through Africa's Talking; safe to run twice.

Retries: a retryable failure (AT unreachable, 5xx, statusCodes 405/500/501/502) raises, and RQ's
`Retry` (the job's policy in gateway/jobs.py, on every path that enqueues it) runs the job again with exponential
backoff up to SMS_MAX_RETRIES; the last attempt records a final `failed` instead of raising.
Permanent failures (invalid number, blacklisted, DND...) end at once in `failed` with the reason.

Opt-out rule: a borrower who opted out (STOP) gets no reminders and no welcome messages or calls,
checked again here at send time; transactional messages (receipts, tokens, replies to what they
asked) are still sent, because they answer something the borrower just did.
"""
from __future__ import annotations

import logging

from rq import get_current_job
from sqlmodel import select

from gateway import phones
from gateway.config import Settings
from gateway.db import session_scope, utcnow
from gateway.models import Borrower, Message
from gateway.providers import sms

log = logging.getLogger(__name__)

# Kinds an opted-out borrower no longer receives. Everything else is transactional.
MARKETING_KINDS = ("reminder", "welcome")
SENDABLE = ("queued", "retrying")


class SendFailed(Exception):
    """A retryable failure: RQ retries the job."""


def _note(message: Message, status: str, **details) -> None:
    message.status = status
    message.status_history = [*message.status_history,
                              {"at": utcnow().isoformat(timespec="seconds"), "status": status, **details}]


def _retries_left() -> int:
    job = get_current_job()
    return int(job.retries_left or 0) if job is not None else 0


def send_message(message_id: int) -> str:
    settings = Settings.from_env()
    # 1. Claim the message in its own transaction, so two workers never both send it.
    with session_scope(settings) as session:
        message = session.exec(select(Message).where(Message.id == message_id).with_for_update()).first()
        if message is None:
            log.warning("message %s does not exist", message_id)
            return "missing"
        if message.status not in SENDABLE:
            return message.status  # already sent, delivered, failed or being sent: nothing to do
        borrower = session.get(Borrower, message.borrower_id) if message.borrower_id else None
        if message.kind in MARKETING_KINDS and borrower is not None and borrower.opted_out:
            _note(message, "opted_out")
            session.add(message)
            return message.status
        if message.encoding == "UCS-2" and message.attempts == 0:
            log.warning("message %s (%s) is UCS-2: %s segments, about twice the cost of GSM-7", message.id,
                        message.template, message.segments)
        message.attempts += 1
        _note(message, "sending", attempt=message.attempts)
        session.add(message)
        phone, text = message.phone, message.text

    # 2. Talk to AT outside any transaction (no row lock held over the network).
    error, result = "", None
    try:
        result = sms.client(settings).send_sms(settings, phone, text)
    except sms.ProviderUnavailable as exc:
        error = str(exc)
    except Exception as exc:  # a bug (ours or the SDK's) must not leave the message claimed as "sending"
        log.exception("SMS %s: unexpected error while sending", message_id)
        error = f"unexpected error: {type(exc).__name__}"

    # 3. Record the outcome.
    retry = False
    with session_scope(settings) as session:
        message = session.get(Message, message_id)
        if result is not None and result.accepted:
            message.provider_message_id = result.message_id
            message.status_code, message.cost = result.status_code, result.cost
            message.cost_minor = _cost_minor(result.cost)
            message.sent_at = utcnow()
            message.failure_reason = ""
            _note(message, "sent", status_code=result.status_code, provider_status=result.status,
                  provider_message_id=result.message_id, cost=result.cost)
        else:
            reason = error or result.status
            if result is not None:
                message.status_code = result.status_code
            message.failure_reason = reason[:60]
            retry = (result is None or result.retryable) and _retries_left() > 0
            _note(message, "retrying" if retry else "failed", reason=reason[:200],
                  status_code=result.status_code if result else None)
            log.info("SMS %s to %s failed (%s)%s", message_id, phones.mask(phone), reason,
                     ", will retry" if retry else "")
        session.add(message)
        status = message.status
    if retry:
        raise SendFailed(f"message {message_id}: {status}")
    return status


def _cost_minor(cost: str) -> int:
    """'KES 0.8000' -> 80 (cents, rounded half up); 0 when AT gives none."""
    from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
    from gateway.money import digits
    try:
        currency, amount = cost.split()
        return int(Decimal(amount).scaleb(digits(currency)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except (ValueError, InvalidOperation):
        return 0
