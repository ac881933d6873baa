"""Write-off and restructure: ledger operations, never deletions.

Both close what is still owed on the current schedule with LedgerEntry rows of their own kind
("writeoff", "restructure"), so the ledger explains every change of balance and reports as of
an earlier date still see the loan as it was then.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import Session, select

from gateway import audit, ledger
from gateway.db import utcnow
from gateway.ledger import schedule
from gateway.models import Installment, LedgerEntry, Loan, LoanStatus
from gateway.models.loans import COMPONENTS


class LoanOpError(ValueError):
    pass


def _close_outstanding(session: Session, loan: Loan, kind: str) -> list[LedgerEntry]:
    entries = []
    for inst in ledger.installments(session, loan.id):
        for component in COMPONENTS:
            left = inst.component_outstanding(component)
            if left <= 0:
                continue
            setattr(inst, f"{component}_paid", getattr(inst, f"{component}_paid") + left)
            entries.append(LedgerEntry(loan_id=loan.id, installment_id=inst.id, component=component,
                                       amount=left, kind=kind))
        inst.status = ledger.installment_status(inst)
        session.add(inst)
    session.add_all(entries)
    return entries


def _open_loan(session: Session, loan_id: int) -> Loan:
    loan = ledger.locked_loan(session, loan_id)
    if loan.status not in (LoanStatus.active, LoanStatus.defaulted):
        raise LoanOpError(f"loan {loan.account_ref} is {loan.status}")
    return loan


def write_off(session: Session, loan_id: int, actor: str, reason: str) -> list[LedgerEntry]:
    """Take what is still owed off the books; later payments on the loan count as recoveries."""
    reason = (reason or "").strip()
    if not reason:
        raise LoanOpError("a write-off needs a reason")
    loan = _open_loan(session, loan_id)
    entries = _close_outstanding(session, loan, "writeoff")
    if not entries:
        raise LoanOpError(f"nothing is owed on loan {loan.account_ref}")
    loan.status = LoanStatus.written_off
    session.add(loan)
    audit.record(session, actor, "loan.written_off", "loan", loan.id, reason=reason,
                 amount=sum(e.amount for e in entries),
                 principal=sum(e.amount for e in entries if e.component == "principal"))
    session.flush()
    return entries


def restructure(session: Session, loan_id: int, actor: str, reason: str, *, count: int, first_due: dt.date,
                frequency: str = "monthly", rate: Decimal = Decimal("0"), method: str = "flat",
                fee: int = 0) -> list[Installment]:
    """Replace what is left of the schedule with a new one over the outstanding principal.
    Unpaid interest and fees of the old schedule are closed, not carried over: the new
    schedule charges its own (`rate`, `fee`)."""
    reason = (reason or "").strip()
    if not reason:
        raise LoanOpError("a restructure needs a reason")
    loan = _open_loan(session, loan_id)
    closed = _close_outstanding(session, loan, "restructure")
    principal = sum(e.amount for e in closed if e.component == "principal")
    if principal <= 0:
        raise LoanOpError(f"no principal is outstanding on loan {loan.account_ref}")
    try:
        rows = schedule.generate(principal, Decimal(rate), count, first_due, frequency, method, fee)
    except schedule.ScheduleError as exc:
        raise LoanOpError(str(exc)) from None
    last_seq = session.exec(select(func.max(Installment.seq)).where(Installment.loan_id == loan.id)).one() or 0
    now = utcnow()
    new = [Installment(loan_id=loan.id, seq=last_seq + k + 1, due_date=r.due_date, principal_due=r.principal,
                       interest_due=r.interest, fees_due=r.fees, effective_from=now) for k, r in enumerate(rows)]
    session.add_all(new)
    loan.status = LoanStatus.active
    session.add(loan)
    session.flush()
    audit.record(session, actor, "loan.restructured", "loan", loan.id, reason=reason, principal=principal,
                 closed=[[e.installment_id, e.component, e.amount] for e in closed],
                 new_installments=[[i.seq, i.due_date.isoformat(), i.amount_due] for i in new])
    return new
