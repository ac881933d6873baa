"""Collections operations: flags for an operator, promises to pay, call-centre work."""
import datetime as dt

from sqlmodel import Field, SQLModel

from gateway.models.types import json_field, money_field, utc_field


class Flag(SQLModel, table=True):
    """Something an operator must look at (eligible for default, foreign payer...). Raised once
    per `dedupe_key` (a database rule), resolved with a note; never deleted."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=30, index=True)  # gateway.ops.flags.KINDS
    loan_id: int | None = Field(default=None, foreign_key="loan.id", index=True)
    borrower_id: int | None = Field(default=None, foreign_key="borrower.id", index=True)
    payment_id: int | None = Field(default=None, foreign_key="payment.id")
    reason: str = Field(max_length=300)
    details: dict = json_field()
    dedupe_key: str = Field(max_length=120, unique=True)
    status: str = Field(default="open", max_length=10, index=True)  # open | resolved
    created_at: dt.datetime = utc_field()
    resolved_at: dt.datetime | None = utc_field(default_now=False)
    resolved_by: str = Field(default="", max_length=120)
    resolution: str = Field(default="", max_length=300)


class Promise(SQLModel, table=True):
    """A borrower's promise to pay `amount` by `promised_date`. Kept or broken is decided once
    the date has passed, from the ledger."""

    id: int | None = Field(default=None, primary_key=True)
    loan_id: int = Field(foreign_key="loan.id", index=True)
    promised_date: dt.date = Field(index=True)
    amount: int = money_field()
    currency: str = Field(max_length=3)
    source: str = Field(max_length=12)  # ussd | call | console
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    status: str = Field(default="open", max_length=10, index=True)  # open | kept | broken
    paid_amount: int = money_field()  # paid between the promise and its date, once evaluated
    created_at: dt.datetime = utc_field()
    evaluated_at: dt.datetime | None = utc_field(default_now=False)


class CollectionAssignment(SQLModel, table=True):
    """Which call-centre agent works a loan in arrears (one at a time)."""

    id: int | None = Field(default=None, primary_key=True)
    loan_id: int = Field(foreign_key="loan.id", unique=True)
    agent_id: int = Field(foreign_key="agent.id", index=True)
    assigned_at: dt.datetime = utc_field()
    assigned_by: str = Field(max_length=120)


class CallLog(SQLModel, table=True):
    """One call from the collections queue and what came of it."""

    id: int | None = Field(default=None, primary_key=True)
    loan_id: int = Field(foreign_key="loan.id", index=True)
    agent_id: int = Field(foreign_key="agent.id", index=True)
    outcome: str = Field(max_length=20)  # reached | no_answer | wrong_number | promise | dispute
    note: str = Field(default="", max_length=500)
    promise_id: int | None = Field(default=None, foreign_key="promise.id")
    duration_seconds: int | None = None  # as the agent logged it; None: CALL_MINUTES_PER_CALL (costs.py)
    created_at: dt.datetime = utc_field(index=True)


class PursuitStop(SQLModel, table=True):
    """Automated pursuit (reminders) of a loan stopped because it has cost what it is expected to recover
    (its product's rule, gateway/ops/costs.py), waiting for a manager's decision: write off, restructure or
    field visit. One row per loan; a restructure resumes pursuit (status `resumed`) and the rule may stop
    it again later, counting only costs since then."""

    id: int | None = Field(default=None, primary_key=True)
    loan_id: int = Field(foreign_key="loan.id", unique=True)
    status: str = Field(default="open", max_length=10, index=True)  # open | decided | resumed
    cost: int = money_field()  # pursuit cost counted when stopped, minor units of the loan's currency
    expected_recovery: int = money_field()
    arrears: int = money_field()
    stopped_at: dt.datetime = utc_field()
    decision: str = Field(default="", max_length=20)  # write_off | restructure | field_visit
    note: str = Field(default="", max_length=300)
    decided_by: str = Field(default="", max_length=120)
    decided_at: dt.datetime | None = utc_field(default_now=False)
