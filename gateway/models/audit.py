import datetime as dt

from sqlmodel import Field, SQLModel

from gateway.models.types import json_field, utc_field


class AuditEvent(SQLModel, table=True):
    """Who did what to money or borrower state, and when. Append-only."""

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = utc_field(index=True)
    actor: str = Field(max_length=120)  # "agent:12", "borrower:+2547...", "system", "mpesa"
    action: str = Field(max_length=80, index=True)  # "payment.allocated", "borrower.language_changed"
    entity: str = Field(max_length=40)
    entity_id: str = Field(max_length=64, index=True)
    data: dict = json_field()
