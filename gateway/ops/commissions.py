"""Agent commissions for a month, with the breakdown an agent can check line by line.

Rules (Settings, from the environment):
- field agents: a flat fee per borrower they onboarded, earned in the month the borrower's first
  installment became fully paid (COMMISSION_ONBOARD_FEE, in major units of the loan currency);
- call-centre agents: a share of the arrears recovered on loans assigned to them — money posted
  after the assignment to installments already past due (COMMISSION_RECOVERY_RATE).
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func
from sqlmodel import Session, select

from gateway.config import Settings
from gateway.i18n import N_
from gateway.models import Agent, Borrower, CollectionAssignment, Installment, LedgerEntry, Loan
from gateway.money import to_minor
from gateway.ops.portfolio import end_of


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """'2027-01' -> (2027-01-01, 2027-01-31)."""
    try:
        first = dt.datetime.strptime(month, "%Y-%m").date()
    except (TypeError, ValueError):
        raise ValueError(N_("month must look like 2027-01")) from None
    if not 1970 <= first.year <= 2999:  # the day before and the month after must be dates too
        raise ValueError(N_("month must be from 1970-01 to 2999-12"))
    nxt = (first + dt.timedelta(days=32)).replace(day=1)
    return first, nxt - dt.timedelta(days=1)


def _paid_by(session: Session, installment_ids: list[int], day: dt.date) -> dict[int, int]:
    if not installment_ids:
        return {}
    return {iid: int(v) for iid, v in session.exec(
        select(LedgerEntry.installment_id, func.sum(LedgerEntry.amount))
        .where(LedgerEntry.installment_id.in_(installment_ids), LedgerEntry.created_at < end_of(day),
               LedgerEntry.payment_id.is_not(None))
        .group_by(LedgerEntry.installment_id)).all()}


def commissions(session: Session, month: str, settings: Settings | None = None,
                agent_id: int | None = None, lenders: tuple[int, ...] | None = None) -> list[dict]:
    """Each agent's commission lines and totals per currency; only `lenders`' loans (None: all, each
    agent with its lender's id as `field_partner_id`)."""
    settings = settings or Settings.from_env()
    first, last = month_bounds(month)
    rate = Decimal(settings.commission_recovery_rate)
    lines: dict[int, list[dict]] = defaultdict(list)

    # Onboarding fees: each borrower's first loan, first installment, paid in full during the month.
    first_loans = (select(Loan.borrower_id, func.min(Loan.id).label("loan_id")).group_by(Loan.borrower_id).subquery())
    first_inst = (select(Installment.loan_id, func.min(Installment.seq).label("seq"))
                  .group_by(Installment.loan_id).subquery())
    query = (select(Borrower, Loan, Installment)
             .join(first_loans, first_loans.c.borrower_id == Borrower.id)
             .join(Loan, Loan.id == first_loans.c.loan_id)
             .join(first_inst, first_inst.c.loan_id == Loan.id)
             .join(Installment, (Installment.loan_id == Loan.id) & (Installment.seq == first_inst.c.seq))
             .where(Borrower.onboarded_by_agent_id.is_not(None)))
    if agent_id is not None:
        query = query.where(Borrower.onboarded_by_agent_id == agent_id)
    if lenders is not None:
        query = query.where(Borrower.field_partner_id.in_(lenders))
    found = session.exec(query).all()
    ids = [i.id for _, _, i in found]
    paid_end, paid_before = _paid_by(session, ids, last), _paid_by(session, ids, first - dt.timedelta(days=1))
    for borrower, loan, inst in found:
        if paid_end.get(inst.id, 0) >= inst.amount_due > paid_before.get(inst.id, 0):
            lines[borrower.onboarded_by_agent_id].append({
                "rule": "onboarding", "loan": loan.account_ref, "borrower": borrower.name, "currency": loan.currency,
                "base": inst.amount_due, "amount": to_minor(settings.commission_onboard_fee, loan.currency)})

    # Recoveries: payment money that went to installments already past due, after assignment.
    query = (select(CollectionAssignment.agent_id, Loan.account_ref, Loan.currency, func.sum(LedgerEntry.amount))
             .join(Loan, Loan.id == CollectionAssignment.loan_id)
             .join(LedgerEntry, LedgerEntry.loan_id == Loan.id)
             .join(Installment, Installment.id == LedgerEntry.installment_id)
             .where(LedgerEntry.payment_id.is_not(None),
                    LedgerEntry.created_at >= end_of(first - dt.timedelta(days=1)),
                    LedgerEntry.created_at < end_of(last),
                    LedgerEntry.created_at >= CollectionAssignment.assigned_at,
                    Installment.due_date < func.date(LedgerEntry.created_at))
             .group_by(CollectionAssignment.agent_id, Loan.account_ref, Loan.currency))
    if agent_id is not None:
        query = query.where(CollectionAssignment.agent_id == agent_id)
    if lenders is not None:
        query = query.where(Loan.borrower_id.in_(select(Borrower.id).where(Borrower.field_partner_id.in_(lenders))))
    for owner, ref, currency, recovered in session.exec(query).all():
        recovered = int(recovered)
        if recovered > 0:
            lines[owner].append({"rule": "recovery", "loan": ref, "borrower": "", "currency": currency,
                                 "base": recovered,
                                 "amount": int((recovered * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))})
    agents = {a.id: a for a in session.exec(select(Agent).where(Agent.id.in_(list(lines))))}
    out = []
    for aid in sorted(lines):
        totals = defaultdict(int)
        for line in lines[aid]:
            totals[line["currency"]] += line["amount"]
        out.append({"agent_id": aid, "agent": agents[aid].name, "role": agents[aid].role, "month": month,
                    "field_partner_id": agents[aid].field_partner_id,
                    "lines": sorted(lines[aid], key=lambda ln: (ln["rule"], ln["loan"])), "totals": dict(totals)})
    return out
