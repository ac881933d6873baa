"""Money in: payments, the borrower's intents to pay (STK push), reversals, and every payment callback
as it reached us."""
import datetime as dt
from enum import StrEnum

from sqlalchemy import Text, UniqueConstraint
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

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=20)  # mpesa | africastalking | manual
    provider_txn_id: str = Field(max_length=64)  # the provider's id: M-Pesa receipt number, ...
    amount: int = money_field()
    currency: str = Field(max_length=3)
    loan_id: int | None = Field(default=None, foreign_key="loan.id", index=True)
    status: str = Field(default=PaymentStatus.received, max_length=12, index=True)
    payer_phone: str = Field(default="", max_length=32)
    account_ref: str = Field(default="", max_length=40)  # as the payer typed it
    # the lender whose shortcode was paid (its loans only are matched); None: not known by shortcode
    field_partner_id: int | None = Field(default=None, foreign_key="fieldpartner.id", index=True)
    paid_at: dt.datetime | None = utc_field(default_now=False)
    received_at: dt.datetime = utc_field()
    posted_at: dt.datetime | None = utc_field(default_now=False)
    # why it is in suspense, refunded, reversed
    note: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})


class IntentStatus(StrEnum):
    pending = "pending"  # stored; the push job will claim it
    sending = "sending"  # claimed by the push job
    sent = "sent"  # the provider is prompting the phone
    paid = "paid"
    failed = "failed"


class CallbackStatus(StrEnum):
    stored = "stored"
    processed = "processed"
    rejected = "rejected"  # not authentic or unreadable: answered 4xx, kept for review
    failed = "failed"  # processing failed: retried by the sweeper


class PaymentIntent(SQLModel, table=True):
    """A borrower asked to pay (USSD "Pay now"); settled when the money arrives."""

    id: int | None = Field(default=None, primary_key=True)
    loan_id: int = Field(foreign_key="loan.id", index=True)
    amount: int = money_field()
    currency: str = Field(max_length=3)
    phone: str = Field(max_length=20)
    channel: str = Field(default="ussd", max_length=10)
    session_id: str | None = Field(default=None, max_length=100, unique=True)
    status: str = Field(default=IntentStatus.pending, max_length=12, index=True)
    created_at: dt.datetime = utc_field()
    # Filled by the STK push job and its callback (gateway.payments).
    merchant_request_id: str | None = Field(default=None, max_length=64)
    checkout_request_id: str | None = Field(default=None, max_length=64, unique=True)
    result_code: str | None = Field(default=None, max_length=20)
    result_desc: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})
    payment_id: int | None = Field(default=None, foreign_key="payment.id")
    settled_at: dt.datetime | None = utc_field(default_now=False)


class RawCallback(SQLModel, table=True):
    """Every payment callback exactly as it reached us, stored before we answer: accepted,
    rejected (bad token, bad JSON) or failed while processing (retried by the sweeper)."""

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=20, index=True)  # mpesa | africastalking
    # c2b_validation | c2b_confirmation | stk_callback | reversal_result | notification
    kind: str = Field(max_length=30)
    source_ip: str = Field(default="", max_length=64)
    body: str = Field(default="", sa_type=Text)
    status: str = Field(default=CallbackStatus.stored, max_length=12, index=True)
    error: str = Field(default="", max_length=500)
    payment_id: int | None = Field(default=None, foreign_key="payment.id", index=True)
    attempts: int = 0
    received_at: dt.datetime = utc_field()
    processed_at: dt.datetime | None = utc_field(default_now=False)


class PaymentReversal(SQLModel, table=True):
    """A payment taken back (M-Pesa reversal, AT reversed status, operator). One per payment and
    one per provider reversal id, enforced by the database so a replayed reversal unwinds once."""

    __table_args__ = (UniqueConstraint("provider", "provider_txn_id"),)

    id: int | None = Field(default=None, primary_key=True)
    payment_id: int = Field(foreign_key="payment.id", unique=True)
    provider: str = Field(max_length=20)
    provider_txn_id: str = Field(max_length=64)
    actor: str = Field(max_length=120)
    reason: str = Field(default="", max_length=200)
    created_at: dt.datetime = utc_field()


class ReversalStatus(StrEnum):
    waiting = "waiting"  # its payment has not reached us (yet): no attempt cap, flagged after REVERSAL_MATCH_HOURS
    matched = "matched"  # the payment arrived and was recorded reversed, in the same transaction


class PendingReversal(SQLModel, table=True):
    """A provider reversed a payment we have not received (yet). It waits here, once per
    (provider, original transaction id), and takes the payment back the moment it arrives."""

    __table_args__ = (UniqueConstraint("provider", "original_txn_id"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=20)
    original_txn_id: str = Field(max_length=64)  # the payment it takes back
    reversal_txn_id: str = Field(max_length=64)
    reason: str = Field(default="", max_length=200)
    status: str = Field(default=ReversalStatus.waiting, max_length=12, index=True)
    payment_id: int | None = Field(default=None, foreign_key="payment.id")
    received_at: dt.datetime = utc_field()
    matched_at: dt.datetime | None = utc_field(default_now=False)


class PaymentConflict(SQLModel, table=True):
    """The same receipt reported again with a different amount, currency or account: the first
    version stays the payment, this one is kept (once per distinct version) for an operator."""

    __table_args__ = (UniqueConstraint("payment_id", "amount", "currency", "account_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    payment_id: int = Field(foreign_key="payment.id", index=True)
    amount: int = money_field()
    currency: str = Field(max_length=3)
    account_ref: str = Field(default="", max_length=40)
    payer_phone: str = Field(default="", max_length=32)
    received_at: dt.datetime = utc_field()
