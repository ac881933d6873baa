import datetime as dt
from enum import StrEnum
from typing import Optional

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from gateway.models.types import money_field, utc_field


class PaymentStatus(StrEnum):
    received = "received"  # stored, not yet allocated
    posted = "posted"  # allocated to a loan
    suspense = "suspense"  # no loan matched: an operator must resolve it
    reversed = "reversed"
    refunded = "refunded"


class Payment(SQLModel, table=True):
    """Money that reached the lender. One row per provider transaction, enforced by the database."""

    __table_args__ = (UniqueConstraint("provider", "provider_txn_id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    provider: str = Field(max_length=20)  # mpesa | africastalking | manual
    provider_txn_id: str = Field(max_length=64)  # M-Pesa receipt number, AT transactionId ...
    amount: int = money_field()
    currency: str = Field(max_length=3)
    loan_id: Optional[int] = Field(default=None, foreign_key="loan.id", index=True)
    status: str = Field(default=PaymentStatus.received, max_length=12, index=True)
    payer_phone: str = Field(default="", max_length=32)
    account_ref: str = Field(default="", max_length=40)  # as the payer typed it
    paid_at: Optional[dt.datetime] = utc_field(default_now=False)
    received_at: dt.datetime = utc_field()
    posted_at: Optional[dt.datetime] = utc_field(default_now=False)
    note: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})  # why it is in suspense, refunded, reversed


class LedgerEntry(SQLModel, table=True):
    """One allocation of money to a loan component. Never updated or deleted: reversals add
    entries with the opposite sign. For every payment, the sum of its entries equals its amount
    while posted, and zero once reversed."""

    id: Optional[int] = Field(default=None, primary_key=True)
    loan_id: int = Field(foreign_key="loan.id", index=True)
    payment_id: Optional[int] = Field(default=None, foreign_key="payment.id", index=True)
    installment_id: Optional[int] = Field(default=None, foreign_key="installment.id", index=True)
    component: str = Field(max_length=10)  # fees | interest | principal | credit
    amount: int = money_field()  # signed minor units
    kind: str = Field(default="allocation", max_length=20)  # allocation | reversal | writeoff ...
    created_at: dt.datetime = utc_field()


class PaymentIntent(SQLModel, table=True):
    """A borrower asked to pay (USSD "Pay now"); settled when the money arrives."""

    id: Optional[int] = Field(default=None, primary_key=True)
    loan_id: int = Field(foreign_key="loan.id", index=True)
    amount: int = money_field()
    currency: str = Field(max_length=3)
    phone: str = Field(max_length=20)
    channel: str = Field(default="ussd", max_length=10)
    session_id: Optional[str] = Field(default=None, max_length=100, unique=True)
    status: str = Field(default="pending", max_length=12, index=True)  # pending|sending|sent|paid|failed
    created_at: dt.datetime = utc_field()
    # Filled by the STK push job and its callback (gateway.payments).
    merchant_request_id: Optional[str] = Field(default=None, max_length=64)
    checkout_request_id: Optional[str] = Field(default=None, max_length=64, unique=True)
    result_code: Optional[str] = Field(default=None, max_length=20)
    result_desc: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})
    payment_id: Optional[int] = Field(default=None, foreign_key="payment.id")
    settled_at: Optional[dt.datetime] = utc_field(default_now=False)
