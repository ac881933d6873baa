"""The ledger: every allocation, reversal, write-off and restructure as an entry; nothing deleted."""
import datetime as dt

from sqlmodel import Field, SQLModel

from gateway.models.types import money_field, utc_field


class LedgerEntry(SQLModel, table=True):
    """One allocation of money to a loan component. Never updated or deleted: reversals add
    entries with the opposite sign. For every payment, the sum of its entries equals its amount
    while posted, and zero once reversed."""

    id: int | None = Field(default=None, primary_key=True)
    loan_id: int = Field(foreign_key="loan.id", index=True)
    payment_id: int | None = Field(default=None, foreign_key="payment.id", index=True)
    installment_id: int | None = Field(default=None, foreign_key="installment.id", index=True)
    component: str = Field(max_length=10)  # fees | interest | principal | credit
    amount: int = money_field()  # signed minor units
    kind: str = Field(default="allocation", max_length=20)  # allocation | reversal | writeoff ...
    created_at: dt.datetime = utc_field()
