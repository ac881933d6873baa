"""Commission statements (one per agent, month and currency), approved by a manager, paid once."""
import datetime as dt
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from gateway.models.types import money_field, utc_field


class StatementStatus(StrEnum):
    pending = "pending"  # waiting for a manager
    returned = "returned"  # sent back with a note; regenerated on the next run
    approved = "approved"
    paid = "paid"  # exported in a payout file for Finance (once: CommissionPayout)


class CommissionStatement(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("agent_id", "month", "currency"),)

    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agent.id", index=True)
    month: str = Field(max_length=7, index=True)  # YYYY-MM
    currency: str = Field(max_length=3)
    total: int = money_field()  # sum of the lines, minor units
    payable: int = money_field()  # total rounded down to whole units (M-Pesa pays whole shillings)
    status: str = Field(default=StatementStatus.pending, max_length=10, index=True)
    note: str = Field(default="", max_length=500)  # the manager's note when returned
    decided_by: str = Field(default="", max_length=120)
    decided_at: dt.datetime | None = utc_field(default_now=False)
    created_at: dt.datetime = utc_field()


class StatementLine(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    statement_id: int = Field(foreign_key="commissionstatement.id", index=True)
    rule: str = Field(max_length=20)  # onboarding | recovery
    loan: str = Field(max_length=40)
    borrower: str = Field(default="", max_length=120)
    base: int = money_field()
    amount: int = money_field()


class CommissionPayout(SQLModel, table=True):
    """A statement exported as paid: unique per statement, so it can be paid only once."""

    id: int | None = Field(default=None, primary_key=True)
    statement_id: int = Field(foreign_key="commissionstatement.id", unique=True)
    batch: str = Field(max_length=40, index=True)
    phone: str = Field(max_length=20)
    amount: int = money_field()
    exported_by: str = Field(max_length=120)
    exported_at: dt.datetime = utc_field()
