import datetime as dt
from typing import Optional

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from gateway.models.types import utc_field


class RawCallback(SQLModel, table=True):
    """Every payment callback exactly as it reached us, stored before we answer: accepted,
    rejected (bad token, bad JSON) or failed while processing (retried by the sweeper)."""

    id: Optional[int] = Field(default=None, primary_key=True)
    provider: str = Field(max_length=20, index=True)  # mpesa | africastalking
    kind: str = Field(max_length=30)  # c2b_validation | c2b_confirmation | stk_callback | reversal_result | notification
    source_ip: str = Field(default="", max_length=64)
    body: str = Field(default="", sa_type=Text)
    status: str = Field(default="stored", max_length=12, index=True)  # stored | processed | rejected | failed
    error: str = Field(default="", max_length=500)
    payment_id: Optional[int] = Field(default=None, foreign_key="payment.id", index=True)
    attempts: int = 0
    received_at: dt.datetime = utc_field()
    processed_at: Optional[dt.datetime] = utc_field(default_now=False)


class PaymentReversal(SQLModel, table=True):
    """A payment taken back (M-Pesa reversal, AT reversed status, operator). One per payment and
    one per provider reversal id, enforced by the database so a replayed reversal unwinds once."""

    __table_args__ = (UniqueConstraint("provider", "provider_txn_id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    payment_id: int = Field(foreign_key="payment.id", unique=True)
    provider: str = Field(max_length=20)
    provider_txn_id: str = Field(max_length=64)
    actor: str = Field(max_length=120)
    reason: str = Field(default="", max_length=200)
    created_at: dt.datetime = utc_field()
