"""Outbound notifications: a lender's webhooks (Slack or generic) and the outbox of what to send them."""
import datetime as dt
from enum import StrEnum

from sqlmodel import Field, SQLModel

from gateway.models.types import json_field, money_field, utc_field


class NotificationStatus(StrEnum):
    pending = "pending"  # stored, waiting for (another) delivery attempt
    delivered = "delivered"
    failed = "failed"  # final: a permanent refusal, or out of attempts (reason in last_error)


class WebhookEndpoint(SQLModel, table=True):
    """Where a lender wants events: a Slack incoming webhook or a generic JSON receiver. The URL and
    the signing secret are Fernet-encrypted (gateway.notify.crypto); `url_hint` is the masked URL."""

    id: int | None = Field(default=None, primary_key=True)
    field_partner_id: int = Field(foreign_key="fieldpartner.id", index=True)
    kind: str = Field(max_length=10)  # slack | generic
    name: str = Field(max_length=80)
    url_encrypted: str = Field(max_length=1000)
    secret_encrypted: str = Field(default="", max_length=1000)
    url_hint: str = Field(max_length=120)
    events: list = json_field(default_factory=list)
    language: str = Field(default="en", max_length=8)  # the staff language the messages are written in
    daily_hour: int = 7  # local hour (lender's timezone) of the daily summary
    payment_threshold: int = money_field()  # minor units: payments at or above it are announced
    failure_threshold: int = 5  # failed callbacks / provider failures in the last hour that raise an alert
    active: bool = True
    created_at: dt.datetime = utc_field()


class Notification(SQLModel, table=True):
    """One event for one endpoint, stored in the transaction of the event (the outbox) and delivered
    by a job. `dedupe_key` makes an event announced once per endpoint (a database rule)."""

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(foreign_key="webhookendpoint.id", index=True)
    event: str = Field(max_length=30)
    payload: dict = json_field()
    dedupe_key: str = Field(max_length=120, unique=True)
    status: str = Field(default=NotificationStatus.pending, max_length=10, index=True)
    attempts: int = 0
    next_at: dt.datetime = utc_field(index=True)
    last_status_code: int | None = None
    last_error: str = Field(default="", max_length=300)  # never the URL or a secret
    created_at: dt.datetime = utc_field(index=True)
    delivered_at: dt.datetime | None = utc_field(default_now=False)
