"""Sending one stored SMS through the SMS provider's client; safe to run twice.

Retries: a retryable failure (the provider unreachable, or its own fault: see SmsResult.retryable) raises, and RQ's
`Retry` (the job's policy in gateway/jobs.py, on every path that enqueues it) runs the job again with exponential
backoff up to SMS_MAX_RETRIES; the last attempt records a final `failed` instead of raising.
Permanent failures (invalid number, blacklisted, DND...) end at once in `failed` with the reason.

Quiet hours: reminders and welcome messages are checked against the borrower's quiet hours here, when the
message is handed to the provider, whatever path brought the job (first try, RQ retry, sweeper): in quiet hours
the job is postponed to the next allowed local time and nothing is sent.

Opt-out rule: a borrower who opted out (STOP) gets no reminders and no welcome messages or calls,
checked again here at send time; transactional messages (receipts, tokens, replies to what they
asked) are still sent, because they answer something the borrower just did.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from sqlmodel import select

from gateway import jobs, phones
from gateway.config import Settings
from gateway.db import session_scope, utcnow
from gateway.models import Borrower, FieldPartner, Message
from gateway.models import MessageStatus as S
from gateway.ops import costs
from gateway.reminders import rules

log = logging.getLogger(__name__)

# Kinds an opted-out borrower no longer receives. Everything else is transactional.
MARKETING_KINDS = ("reminder", "welcome")
SENDABLE = (S.queued, S.retrying)


class ProviderUnavailable(Exception):
    """The provider could not be reached, answered with an error, or answered something we cannot
    read (not JSON, truncated, the wrong shape): try again later."""


@dataclass(frozen=True)
class SmsResult:
    phone: str
    accepted: bool  # the provider took the message for delivery
    retryable: bool  # not accepted, but worth trying again later (e.g. the provider's own fault)
    status_code: int  # the provider's code and word, kept for the record
    status: str
    message_id: str
    cost: str  # as the provider reports it, e.g. "KES 0.8000"


class SmsClient(Protocol):
    def send_sms(self, settings: Settings, phone: str, text: str, sender_id: str = "") -> SmsResult:
        """`sender_id`: the lender's (FieldPartner.sender_id); empty: the provider account's (AT_SENDER_ID)."""


class SendFailed(Exception):
    """A retryable failure: RQ retries the job."""


def _note(message: Message, status: str, **details) -> None:
    message.status = status
    message.status_history = [*message.status_history,
                              {"at": utcnow().isoformat(timespec="seconds"), "status": status, **details}]


def _quiet_until(settings: Settings, message: Message, borrower: Borrower | None):
    """The end of the borrower's quiet hours if this message may not leave now, else None."""
    if message.kind not in MARKETING_KINDS or borrower is None:
        return None
    now = utcnow()
    later = rules.next_allowed(now, borrower.timezone, settings)
    return later if later > now else None


def send(settings: Settings, message_id: int, client: SmsClient, retries_left: int) -> str:
    """Claim, send, record. Raises SendFailed when a retry is due (`retries_left` > 0)."""
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
            _note(message, S.opted_out)
            session.add(message)
            return message.status
        if message.kind == "reminder" and costs.reminder_stopped(session, settings, message):
            _note(message, S.pursuit_stopped)  # cost against recovery (gateway/ops/costs.py)
            session.add(message)
            return message.status
        later = _quiet_until(settings, message, borrower)
        if later is None:
            if message.encoding == "UCS-2" and message.attempts == 0:
                log.warning("message %s (%s) is UCS-2: %s segments, about twice the cost of GSM-7", message.id,
                            message.template, message.segments)
            message.attempts += 1
            _note(message, S.sending, attempt=message.attempts)
            session.add(message)
        phone, text = message.phone, message.text
        partner = session.get(FieldPartner, borrower.field_partner_id) if borrower is not None else None
        sender_id = partner.sender_id if partner is not None else ""  # each lender writes under its own name
    if later is not None:  # not a word in quiet hours: the same job again at the end of them
        jobs.postpone(jobs.SEND_SMS, message_id, settings=settings, at=later)
        log.info("SMS %s (%s) postponed to %s: the borrower's quiet hours", message_id, message.kind,
                 later.isoformat(timespec="minutes"))
        return "postponed"

    # 2. Talk to AT outside any transaction (no row lock held over the network).
    error, result = "", None
    try:
        result = client.send_sms(settings, phone, text, sender_id=sender_id)
    except ProviderUnavailable as exc:
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
            _note(message, S.sent, status_code=result.status_code, provider_status=result.status,
                  provider_message_id=result.message_id, cost=result.cost)
        else:
            reason = error or result.status
            if result is not None:
                message.status_code = result.status_code
            message.failure_reason = reason[:60]
            retry = (result is None or result.retryable) and retries_left > 0
            _note(message, S.retrying if retry else S.failed, reason=reason[:200],
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
