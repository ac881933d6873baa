"""Final answers for messages and calls left half-way by a worker that died or a callback that
never came. Run by the sweeper (every minute); each step is idempotent.

- An SMS `sending` for SMS_SENDING_TIMEOUT_MINUTES becomes `unknown`: it may or may not have left
  (AT has no idempotency key, so it is never resent by itself). It is counted in the messaging
  report and listed for review (`review_list`); a late delivery report settles it
  (gateway/messaging/inbound.py); an operator can `resend` it.
- A welcome call `queued` (AT placed it) with no final callback for VOICE_CALL_TIMEOUT_MINUTES
  counts as unanswered: it fails and the welcome goes on as for any unanswered call.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func
from sqlmodel import Session, select

from gateway import audit, jobs, outbox
from gateway.config import Settings
from gateway.db import utcnow
from gateway.messaging import welcome
from gateway.models import CallStatus, Message, MessageStatus, VoiceCall

NO_FINAL_CALLBACK = "no final callback"


class NotResendable(ValueError):
    pass


def _since(message: Message) -> dt.datetime | None:
    """When the message took its current status (its last history entry)."""
    for entry in reversed(message.status_history or []):
        if entry.get("status") == message.status:
            return dt.datetime.fromisoformat(entry["at"])
    return None


def mark_unknown(session: Session, settings: Settings) -> list[int]:
    cutoff = utcnow() - dt.timedelta(minutes=settings.sms_sending_timeout_minutes)
    marked = []
    for message in session.exec(select(Message).where(Message.status == MessageStatus.sending)
                                .order_by(Message.id).with_for_update()).all():
        since = _since(message)
        if since is not None and since > cutoff:
            continue
        message.status = MessageStatus.unknown
        message.status_history = [*message.status_history, {"at": utcnow().isoformat(timespec="seconds"),
                                                            "status": MessageStatus.unknown,
                                                            "reason": "no answer recorded from the send"}]
        session.add(message)
        audit.record(session, "system", "sms.unknown", "message", message.id, attempts=message.attempts)
        marked.append(message.id)
    return marked


def review_list(session: Session) -> list[Message]:
    return list(session.exec(select(Message).where(Message.status == MessageStatus.unknown).order_by(Message.id)))


def resend(session: Session, message_id: int, actor: str) -> Message:
    """An operator decided the message did not reach the borrower: send it again (once)."""
    message = session.exec(select(Message).where(Message.id == message_id).with_for_update()).first()
    if message is None or message.status != MessageStatus.unknown:
        raise NotResendable(f"message {message_id} is not waiting for review")
    message.status = MessageStatus.queued
    message.status_history = [*message.status_history, {"at": utcnow().isoformat(timespec="seconds"),
                                                        "status": MessageStatus.queued, "resent_by": actor}]
    session.add(message)
    audit.record(session, actor, "sms.resend", "message", message.id)
    outbox.after_commit(session, jobs.SEND_SMS, message.id)
    return message


def time_out_calls(session: Session, settings: Settings) -> list[int]:
    cutoff = utcnow() - dt.timedelta(minutes=settings.voice_call_timeout_minutes)
    placed = func.coalesce(VoiceCall.placed_at, VoiceCall.call_at)  # rows from before placed_at existed
    calls = session.exec(select(VoiceCall).where(VoiceCall.status == CallStatus.queued, placed <= cutoff)
                         .order_by(VoiceCall.id).with_for_update()).all()
    for call in calls:
        call.status, call.hangup_cause = CallStatus.failed, NO_FINAL_CALLBACK
        session.add(call)
        audit.record(session, "system", "voice.call_timed_out", "voice_call", call.id, attempt=call.attempt)
        welcome.call_failed(session, call, settings)
    return [c.id for c in calls]
