import datetime as dt
from typing import Optional

from sqlmodel import Field, SQLModel

from gateway.models.types import utc_field


class CallbackRequest(SQLModel, table=True):
    """A task for the call-centre queue: a borrower asked to be called, or wrote something
    the gateway could not answer."""

    id: Optional[int] = Field(default=None, primary_key=True)
    borrower_id: int = Field(foreign_key="borrower.id", index=True)
    loan_id: Optional[int] = Field(default=None, foreign_key="loan.id")
    reason: str = Field(max_length=40)  # ussd_request | inbound_sms | welcome_call ...
    note: str = Field(default="", max_length=500)
    source_ref: Optional[str] = Field(default=None, max_length=120, unique=True)  # makes it idempotent
    status: str = Field(default="open", max_length=12, index=True)  # open | done
    assigned_agent_id: Optional[int] = Field(default=None, foreign_key="agent.id")
    created_at: dt.datetime = utc_field()
