import datetime as dt
from enum import StrEnum

from sqlmodel import Field, SQLModel

from gateway.models.types import utc_field


class TaskStatus(StrEnum):
    open = "open"  # in the call-centre queue
    done = "done"  # called back, with an outcome


class CallbackRequest(SQLModel, table=True):
    """A task for the call-centre queue: a borrower asked to be called (USSD, the welcome call's
    "press 2"), or wrote something the gateway could not answer (inbound SMS). Source: the
    `source_ref` prefix (ussd: / voice: / sms:). Handled with a call-log outcome."""

    id: int | None = Field(default=None, primary_key=True)
    borrower_id: int = Field(foreign_key="borrower.id", index=True)
    loan_id: int | None = Field(default=None, foreign_key="loan.id")
    reason: str = Field(max_length=40)  # ussd_request | inbound_sms | welcome_call ...
    note: str = Field(default="", max_length=500)
    source_ref: str | None = Field(default=None, max_length=120, unique=True)  # makes it idempotent
    status: str = Field(default=TaskStatus.open, max_length=12, index=True)
    assigned_agent_id: int | None = Field(default=None, foreign_key="agent.id")
    created_at: dt.datetime = utc_field()
    outcome: str = Field(default="", max_length=20)  # a call-log outcome (gateway.ops.callcentre.OUTCOMES)
    handled_at: dt.datetime | None = utc_field(default_now=False)
    handled_by: int | None = Field(default=None, foreign_key="agent.id")
    call_id: int | None = Field(default=None, foreign_key="calllog.id")  # the call logged, when there is a loan
