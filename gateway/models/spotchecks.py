"""Spot checks: each month a random sample of a lender's loans becomes verification calls."""
import datetime as dt
from enum import StrEnum

from sqlalchemy import BigInteger, UniqueConstraint
from sqlmodel import Field, SQLModel

from gateway.models.types import json_field, utc_field


class SpotCheckStatus(StrEnum):
    pending = "pending"  # not called yet
    confirmed = "confirmed"  # the borrower confirmed every answer of the script
    discrepancy = "discrepancy"  # at least one answer did not match the loan: a flag was raised
    unreachable = "unreachable"  # no answer; may be called again


class SpotCheck(SQLModel, table=True):
    """One lender's sample for one month, drawn once (gateway.ops.spotchecks.draw): the seed
    reproduces it, `sizes` says per stratum how many loans there were and how many were drawn."""

    __table_args__ = (UniqueConstraint("field_partner_id", "month"),)

    id: int | None = Field(default=None, primary_key=True)
    field_partner_id: int = Field(foreign_key="fieldpartner.id", index=True)
    month: str = Field(max_length=7)  # YYYY-MM
    seed: int = Field(sa_type=BigInteger)
    per_stratum: int
    sizes: dict = json_field()  # stratum -> {"population": n, "drawn": k}
    created_by: str = Field(max_length=120)
    created_at: dt.datetime = utc_field()


class SpotCheckCall(SQLModel, table=True):
    """A verification call for one sampled loan, and its outcome."""

    __table_args__ = (UniqueConstraint("spot_check_id", "loan_id"),)

    id: int | None = Field(default=None, primary_key=True)
    spot_check_id: int = Field(foreign_key="spotcheck.id", index=True)
    loan_id: int = Field(foreign_key="loan.id", index=True)
    stratum: str = Field(max_length=10)  # new | arrears | repaid
    status: str = Field(default=SpotCheckStatus.pending, max_length=12, index=True)
    answers: dict = json_field()  # script question -> "yes" | "no"
    note: str = Field(default="", max_length=500)
    agent_id: int | None = Field(default=None, foreign_key="agent.id")  # who made the call
    called_at: dt.datetime | None = utc_field(default_now=False)
