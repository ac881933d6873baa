import datetime as dt
from typing import Optional

from sqlmodel import Field, SQLModel

from gateway.models.types import json_field, money_field, utc_field


class Message(SQLModel, table=True):
    """An SMS to a borrower. Written before it is queued (the outbox), so nothing is lost if
    Redis is down; `dedupe_key` makes "send this once" a database rule."""

    id: Optional[int] = Field(default=None, primary_key=True)
    borrower_id: Optional[int] = Field(default=None, foreign_key="borrower.id", index=True)
    phone: str = Field(max_length=20, index=True)
    kind: str = Field(max_length=16)  # transactional | reminder | welcome | reply
    template: str = Field(max_length=60)
    language: str = Field(max_length=8)
    text: str = Field(max_length=1600)
    encoding: str = Field(max_length=8)  # GSM-7 | UCS-2
    segments: int = 1
    dedupe_key: Optional[str] = Field(default=None, max_length=160, unique=True)
    # queued | sending | retrying | sent | delivered | failed | undelivered | opted_out
    status: str = Field(default="queued", max_length=24, index=True)
    provider_message_id: Optional[str] = Field(default=None, max_length=80, index=True)
    cost: str = Field(default="", max_length=24)  # as the provider reports it, e.g. "KES 0.8000"
    cost_minor: int = money_field()
    attempts: int = 0  # sends tried (RQ retries and re-sends after failed delivery reports)
    status_code: Optional[int] = None  # AT per-recipient statusCode of the last send
    failure_reason: str = Field(default="", max_length=60)
    status_history: list = json_field(default_factory=list)
    created_at: dt.datetime = utc_field()
    sent_at: Optional[dt.datetime] = utc_field(default_now=False)
    delivered_at: Optional[dt.datetime] = utc_field(default_now=False)
