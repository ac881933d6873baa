"""Messages to borrowers and what comes back: SMS, reminders planned, delivery reports, inbound SMS,
welcome calls."""
import datetime as dt
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from gateway.models.types import json_field, money_field, utc_field


class MessageStatus(StrEnum):
    queued = "queued"
    sending = "sending"  # claimed by the send job
    retrying = "retrying"
    sent = "sent"  # the provider accepted it
    delivered = "delivered"
    failed = "failed"  # the provider refused it, or retries ran out
    undelivered = "undelivered"  # accepted, then not delivered
    opted_out = "opted_out"  # not sent: the borrower opted out
    # `sending` for longer than SMS_SENDING_TIMEOUT_MINUTES: the worker died between handing it to the provider and
    # recording the answer. Never resent by itself (AT has no idempotency key); a late delivery report settles it,
    # or an operator resends it from the review list.
    unknown = "unknown"
    pursuit_stopped = "pursuit_stopped"  # a reminder not sent: pursuing the loan costs more than it recovers


class ReminderStatus(StrEnum):
    planned = "planned"
    sent = "sent"
    skipped_closed = "skipped_closed"
    skipped_paid = "skipped_paid"
    skipped_opted_out = "skipped_opted_out"
    skipped_promise = "skipped_promise"
    skipped_pursuit = "skipped_pursuit"  # the loan's pursuit is stopped (cost against recovery)


class CallStatus(StrEnum):
    planned = "planned"
    calling = "calling"  # claimed by the call job
    queued = "queued"  # the provider will place it
    answered = "answered"
    completed = "completed"
    failed = "failed"
    skipped_opted_out = "skipped_opted_out"
    skipped_no_voice = "skipped_no_voice"  # no text-to-speech nor recordings in the language: the SMS says it all


class Message(SQLModel, table=True):
    """An SMS to a borrower. Written before it is queued (the outbox), so nothing is lost if
    Redis is down; `dedupe_key` makes "send this once" a database rule."""

    id: int | None = Field(default=None, primary_key=True)
    borrower_id: int | None = Field(default=None, foreign_key="borrower.id", index=True)
    phone: str = Field(max_length=20, index=True)
    kind: str = Field(max_length=16)  # transactional | reminder | welcome | reply
    template: str = Field(max_length=60)
    language: str = Field(max_length=8)
    text: str = Field(max_length=1600)
    encoding: str = Field(max_length=8)  # GSM-7 | UCS-2
    segments: int = 1
    dedupe_key: str | None = Field(default=None, max_length=160, unique=True)
    status: str = Field(default=MessageStatus.queued, max_length=24, index=True)
    provider_message_id: str | None = Field(default=None, max_length=80, index=True)
    cost: str = Field(default="", max_length=24)  # as the provider reports it, e.g. "KES 0.8000"
    cost_minor: int = money_field()
    attempts: int = 0  # sends tried (RQ retries and re-sends after failed delivery reports)
    status_code: int | None = None  # the provider's code for the last send
    failure_reason: str = Field(default="", max_length=60)
    status_history: list = json_field(default_factory=list)
    created_at: dt.datetime = utc_field()
    sent_at: dt.datetime | None = utc_field(default_now=False)
    delivered_at: dt.datetime | None = utc_field(default_now=False)


class Reminder(SQLModel, table=True):
    """One step of the reminder ladder for one installment. The unique keys are the rules
    "never send the same step twice" and "at most one reminder per borrower per local day":
    the planner inserts with ON CONFLICT DO NOTHING, so a re-run cannot plan twice."""

    __table_args__ = (
        UniqueConstraint("loan_id", "installment_id", "step"),
        UniqueConstraint("borrower_id", "local_day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    loan_id: int = Field(foreign_key="loan.id", index=True)
    installment_id: int = Field(foreign_key="installment.id", index=True)
    borrower_id: int = Field(foreign_key="borrower.id")
    step: str = Field(max_length=12)  # "D-3", "D0", "D+7"
    template: str = Field(max_length=60)
    local_day: dt.date  # the borrower's local date it is sent on
    send_at: dt.datetime = utc_field(default_now=False, index=True)
    # planned | sent | skipped_paid | skipped_opted_out | skipped_closed
    status: str = Field(default=ReminderStatus.planned, max_length=20, index=True)
    message_id: int | None = Field(default=None, foreign_key="message.id")
    created_at: dt.datetime = utc_field()


class DeliveryReport(SQLModel, table=True):
    """AT delivery report callback, as received. AT reports several statuses for one message
    (Submitted, then Success) and retries unacknowledged posts: (id, status) is the key."""

    __table_args__ = (UniqueConstraint("provider_message_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    provider_message_id: str = Field(max_length=80)
    status: str = Field(max_length=24)
    phone: str = Field(default="", max_length=20)
    network_code: str = Field(default="", max_length=10)
    failure_reason: str = Field(default="", max_length=40)
    retry_count: int | None = None
    message_id: int | None = Field(default=None, foreign_key="message.id", index=True)
    received_at: dt.datetime = utc_field()


class InboundSms(SQLModel, table=True):
    """An SMS a borrower sent us (AT incoming-message callback), idempotent on AT's id."""

    id: int | None = Field(default=None, primary_key=True)
    provider_id: str = Field(max_length=80, unique=True)
    phone: str = Field(max_length=20, index=True)
    to: str = Field(default="", max_length=20)
    text: str = Field(default="", max_length=1600)
    link_id: str = Field(default="", max_length=80)
    network_code: str = Field(default="", max_length=10)
    sent_at: dt.datetime | None = utc_field(default_now=False)  # AT's `date`
    borrower_id: int | None = Field(default=None, foreign_key="borrower.id")
    action: str = Field(default="", max_length=20)  # opt_out | opt_in | balance | callcentre | unknown_number
    received_at: dt.datetime = utc_field()


class VoiceCall(SQLModel, table=True):
    """One outbound call attempt (the welcome call). `dedupe_key` makes each attempt a database fact."""

    id: int | None = Field(default=None, primary_key=True)
    borrower_id: int = Field(foreign_key="borrower.id", index=True)
    loan_id: int | None = Field(default=None, foreign_key="loan.id")
    purpose: str = Field(default="welcome", max_length=20)
    attempt: int = 1
    dedupe_key: str = Field(max_length=80, unique=True)
    session_id: str | None = Field(default=None, max_length=80, unique=True)
    # CallStatus; a call `queued` with no final callback for VOICE_CALL_TIMEOUT_MINUTES fails (sweeper)
    status: str = Field(default=CallStatus.planned, max_length=20, index=True)
    hangup_cause: str = Field(default="", max_length=40)
    duration_seconds: int | None = None
    cost_minor: int = money_field()  # what the provider charged (final report), minor units of cost_currency
    cost_currency: str = Field(default="", max_length=3)
    call_at: dt.datetime = utc_field()
    placed_at: dt.datetime | None = utc_field(default_now=False)  # AT took it (status queued)
    created_at: dt.datetime = utc_field()


class VoiceEvent(SQLModel, table=True):
    """A voice callback that changes state (keys pressed, the final report), once per session."""

    __table_args__ = (UniqueConstraint("session_id", "event"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(max_length=80)
    event: str = Field(max_length=20)  # final | digits:1 | digits:2
    data: dict = json_field()
    received_at: dt.datetime = utc_field()


class RejectedCallback(SQLModel, table=True):
    """A provider callback we could not accept (missing fields, bad values), kept for review."""

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=40, index=True)  # "at.sms.delivery-report", ...
    reason: str = Field(max_length=200)
    payload: dict = json_field()
    received_at: dt.datetime = utc_field()
