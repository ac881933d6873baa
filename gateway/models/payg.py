import datetime as dt

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from gateway.models.types import money_field, utc_field


class Device(SQLModel, table=True):
    """A pay-as-you-go solar device installed for a loan. It runs only while paid up: every
    payment buys days of light, delivered as an OpenPAYGO activation code."""

    id: int | None = Field(default=None, primary_key=True)
    loan_id: int = Field(foreign_key="loan.id", unique=True)
    serial: str = Field(max_length=40, unique=True, index=True)
    # The device's 16-byte OpenPAYGO secret, Fernet-encrypted (gateway.payg.keys); never plain.
    secret_key_encrypted: str = Field(max_length=400)
    starting_code: int | None = None  # None: derived from the key, as the library does
    token_count: int = 0  # the count of the last code issued; the device tracks the same count
    daily_rate: int = money_field()  # price of one day of light, minor units of the loan's currency
    leftover: int = money_field()  # money short of a full day, carried to the next payment
    days_credited: int = 0  # all days ever sold or given
    # Credit runs out at the start of this date (borrower's local calendar); an estimate, since
    # the device counts from when each code is typed.
    credit_until: dt.date | None = None
    restricted_digits: bool = False  # keypad with keys 1-4 only: 15-digit codes
    payg_disabled: bool = False  # unlocked for good (loan repaid); no more codes needed
    installed_by_agent_id: int | None = Field(default=None, foreign_key="agent.id")
    created_at: dt.datetime = utc_field()


class PaygToken(SQLModel, table=True):
    """One activation code sent for a device. (device, count) is unique, so two codes can never
    share a count; (payment, part) is unique, so a payment can never buy its codes twice."""

    __table_args__ = (UniqueConstraint("device_id", "count"), UniqueConstraint("payment_id", "part"))

    id: int | None = Field(default=None, primary_key=True)
    device_id: int = Field(foreign_key="device.id", index=True)
    count: int
    payment_id: int | None = Field(default=None, foreign_key="payment.id", index=True)
    part: int = 0  # 0, 1, 2 ... when one payment buys more than 995 days (one code's limit)
    token: str = Field(max_length=20)  # digits only, as the keypad takes it
    days: int = 0
    kind: str = Field(max_length=16)  # add_time | disable | counter_sync
    issued_by: str = Field(default="system", max_length=120)  # "system" for payments, "agent:3"
    reason: str = Field(default="", max_length=300)  # why an operator issued it by hand
    created_at: dt.datetime = utc_field()
