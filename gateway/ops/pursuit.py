"""Loans whose automated pursuit was stopped (cost against recovery, gateway/ops/costs.py), and the
manager's decision on each: write off, restructure, or send someone on a field visit. Every decision is
recorded on the PursuitStop row and audited.

- write off: the loan's outstanding is written off (gateway/ops/loan_ops.py); reminders stay stopped.
- restructure: a new schedule (loan_ops.restructure); pursuit resumes on it, and the rule counts only
  costs and recoveries from then on.
- field visit: a `field_visit` flag on the loan for the field team; reminders stay stopped.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import Session, select

from gateway import audit
from gateway.db import utcnow
from gateway.i18n import N_
from gateway.models import Borrower, Loan, LoanStatus, PursuitStop
from gateway.ops import flags, loan_ops

DECISIONS = ("write_off", "restructure", "field_visit")
FIELD_VISIT = N_("pursuit stopped (cost against recovery): a field visit was decided")


class PursuitError(ValueError):
    pass


@dataclass(frozen=True)
class Restructure:
    count: int
    first_due: dt.date
    frequency: str = "monthly"
    rate: Decimal = Decimal("0")


def stopped_loans(session: Session, partner_ids: tuple[int, ...] | None = None,
                  status: str = "open") -> list[tuple[PursuitStop, Loan, Borrower]]:
    """Stops waiting for a decision (or with `status`), of the given lenders (None: all), oldest first."""
    query = (select(PursuitStop, Loan, Borrower).join(Loan, Loan.id == PursuitStop.loan_id)
             .join(Borrower, Borrower.id == Loan.borrower_id).where(PursuitStop.status == status)
             .order_by(PursuitStop.stopped_at, PursuitStop.id))
    if status == "open":  # a loan written off or repaid meanwhile (e.g. from its page) needs no decision any more
        query = query.where(Loan.status.in_((LoanStatus.active, LoanStatus.defaulted)))
    if partner_ids is not None:
        query = query.where(Borrower.field_partner_id.in_(partner_ids))
    return list(session.exec(query).all())


def decide(session: Session, stop_id: int, decision: str, actor: str, note: str = "", *,
           restructure: Restructure | None = None, partner_ids: tuple[int, ...] | None = None) -> PursuitStop:
    """Record a manager's decision on a stopped loan and carry it out. `partner_ids`: the lenders the
    deciding staff member sees (None: all); another lender's stop is "not found"."""
    if decision not in DECISIONS:
        raise PursuitError(f"decision must be one of {', '.join(DECISIONS)}")
    note = (note or "").strip()[:300]
    stop = session.exec(select(PursuitStop).where(PursuitStop.id == stop_id).with_for_update()).first()
    loan = session.get(Loan, stop.loan_id) if stop else None
    borrower = session.get(Borrower, loan.borrower_id) if loan else None
    if stop is None or (partner_ids is not None and borrower.field_partner_id not in partner_ids):
        raise LookupError(f"no stopped loan {stop_id}")
    if stop.status != "open":
        raise PursuitError(f"loan {loan.account_ref} was already decided: {stop.decision}")
    if decision == "write_off":
        loan_ops.write_off(session, loan.id, actor, note)
        stop.status = "decided"
    elif decision == "restructure":
        if restructure is None:
            raise PursuitError("a restructure needs the number of installments and the first due date")
        loan_ops.restructure(session, loan.id, actor, note, count=restructure.count, first_due=restructure.first_due,
                             frequency=restructure.frequency, rate=restructure.rate)
        stop.status = "resumed"
    else:
        flags.raise_flag(session, "field_visit", f"{loan.id}:{stop.stopped_at.isoformat()}", FIELD_VISIT,
                         loan_id=loan.id, borrower_id=loan.borrower_id, actor=actor, note=note)
        stop.status = "decided"
    stop.decision, stop.note, stop.decided_by, stop.decided_at = decision, note, actor, utcnow()
    session.add(stop)
    session.flush()
    audit.record(session, actor, "pursuit.decided", "loan", loan.id, decision=decision, note=note,
                 cost=stop.cost, expected_recovery=stop.expected_recovery, currency=loan.currency)
    return stop
