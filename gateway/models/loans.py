import datetime as dt
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from gateway.models.types import money_field, utc_field

COMPONENTS = ("fees", "interest", "principal")  # allocation order for every installment


class LoanStatus(StrEnum):
    pending = "pending"
    active = "active"
    repaid = "repaid"
    written_off = "written_off"
    defaulted = "defaulted"


class InstallmentStatus(StrEnum):
    pending = "pending"
    partial = "partial"
    paid = "paid"


class Loan(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    borrower_id: int = Field(foreign_key="borrower.id", index=True)
    product: str = Field(max_length=60)  # "solar home system", "business loan"
    principal: int = money_field()
    currency: str = Field(default="KES", max_length=3)
    disbursed_on: dt.date | None = None
    status: str = Field(default=LoanStatus.active, max_length=20, index=True)
    # What the borrower types as the M-Pesa account number; stored upper-case without spaces.
    account_ref: str = Field(max_length=20, unique=True, index=True)
    created_at: dt.datetime = utc_field()


class Installment(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("loan_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    loan_id: int = Field(foreign_key="loan.id", index=True)
    seq: int
    due_date: dt.date = Field(index=True)
    principal_due: int = money_field()
    interest_due: int = money_field()
    fees_due: int = money_field()
    principal_paid: int = money_field()
    interest_paid: int = money_field()
    fees_paid: int = money_field()
    status: str = Field(default=InstallmentStatus.pending, max_length=10, index=True)
    # Set on installments a restructure created: before this moment they were not on the schedule.
    effective_from: dt.datetime | None = utc_field(default_now=False)

    @property
    def amount_due(self) -> int:
        return self.principal_due + self.interest_due + self.fees_due

    @property
    def amount_paid(self) -> int:
        return self.principal_paid + self.interest_paid + self.fees_paid

    @property
    def outstanding(self) -> int:
        return self.amount_due - self.amount_paid

    def component_outstanding(self, component: str) -> int:
        return getattr(self, f"{component}_due") - getattr(self, f"{component}_paid")


class ImportedLoan(SQLModel, table=True):
    """A loan brought in by `gateway portfolio import`, named by (lender, the lender's own loan id):
    importing the same file again finds it; `digest` is what its row said, so an unchanged row is skipped."""

    __table_args__ = (UniqueConstraint("field_partner_id", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    field_partner_id: int = Field(foreign_key="fieldpartner.id", index=True)
    external_id: str = Field(max_length=64)
    loan_id: int = Field(foreign_key="loan.id", unique=True)
    digest: str = Field(max_length=64)  # sha256 of the normalised row (borrower, loan, schedule, paid to date)
    imported_at: dt.datetime = utc_field()
    updated_at: dt.datetime | None = utc_field(default_now=False)
