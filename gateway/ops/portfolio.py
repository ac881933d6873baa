"""Arrears and portfolio at risk as of any date, read from the ledger.

An installment counts as paid as of day D only by ledger entries created up to the end of D
(UTC), so a report for last month gives the same answer next year, whatever happened since. The
mutable *_paid and status columns are not used here.

- Days past due: days since the due date of the oldest installment that was due before D and
  not fully paid as of D (an installment due on D itself is not late yet).
- PAR<N>: outstanding principal of loans more than N days past due / total outstanding principal.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import and_, case, func, or_
from sqlmodel import Session, select

from gateway.models import Borrower, Installment, LedgerEntry, Loan, LoanStatus

PAR_DAYS = (1, 30, 90)
BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
DIMENSIONS = ("field_partner", "branch", "product", "agent", "portfolio")


def end_of(day: dt.date) -> dt.datetime:
    """The first instant after `day` (UTC): entries strictly before it count as of `day`."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC)


def bucket(days_past_due: int) -> str:
    if days_past_due <= 0:
        return "current"
    if days_past_due <= 30:
        return "1-30"
    if days_past_due <= 60:
        return "31-60"
    if days_past_due <= 90:
        return "61-90"
    return "90+"


@dataclass(frozen=True)
class LoanArrears:
    loan_id: int
    currency: str
    product: str
    field_partner_id: int
    branch: str
    agent_id: int | None  # the field agent who onboarded the borrower
    arrears: int  # owed on installments due before the date, minor units
    days_past_due: int
    outstanding_principal: int
    outstanding: int  # everything still owed on the schedule

    @property
    def bucket(self) -> str:
        return bucket(self.days_past_due)

    def key(self, dimension: str):
        return {"field_partner": self.field_partner_id, "branch": self.branch, "product": self.product,
                "agent": self.agent_id, "portfolio": "all"}[dimension]


def loan_arrears(session: Session, as_of: dt.date, loan_ids: list[int] | None = None,
                 lenders: tuple[int, ...] | None = None) -> list[LoanArrears]:
    """One row per loan on the book as of `as_of`, in one grouped query; only `lenders`' loans (None: all)."""
    end = end_of(as_of)
    paid = (
        select(LedgerEntry.installment_id.label("installment_id"),
               func.sum(LedgerEntry.amount).label("paid"),
               func.sum(case((LedgerEntry.component == "principal", LedgerEntry.amount), else_=0))
               .label("principal_paid"))
        .where(LedgerEntry.installment_id.is_not(None), LedgerEntry.created_at < end)
        .group_by(LedgerEntry.installment_id)
        .subquery()
    )
    due = Installment.principal_due + Installment.interest_due + Installment.fees_due
    paid_total = func.coalesce(paid.c.paid, 0)
    is_due = Installment.due_date < as_of
    query = (
        select(Loan.id, Loan.currency, Loan.product, Borrower.field_partner_id, Borrower.branch,
               Borrower.onboarded_by_agent_id,
               func.sum(case((is_due, due - paid_total), else_=0)),
               func.min(case((and_(is_due, due > paid_total), Installment.due_date), else_=None)),
               func.sum(Installment.principal_due - func.coalesce(paid.c.principal_paid, 0)),
               func.sum(due - paid_total))
        .join(Installment, Installment.loan_id == Loan.id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .outerjoin(paid, paid.c.installment_id == Installment.id)
        .where(Loan.status != LoanStatus.pending,
               or_(Loan.disbursed_on.is_(None), Loan.disbursed_on <= as_of),
               or_(Installment.effective_from.is_(None), Installment.effective_from < end))
        .group_by(Loan.id, Loan.currency, Loan.product, Borrower.field_partner_id, Borrower.branch,
                  Borrower.onboarded_by_agent_id)
        .order_by(Loan.id)
    )
    if loan_ids is not None:
        query = query.where(Loan.id.in_(loan_ids))
    if lenders is not None:
        query = query.where(Borrower.field_partner_id.in_(lenders))
    rows = []
    for lid, cur, product, partner, branch, agent, arrears, oldest, principal, outstanding in session.exec(query):
        if isinstance(oldest, str):  # SQLite hands back MIN() of a CASE as text
            oldest = dt.date.fromisoformat(oldest)
        rows.append(LoanArrears(lid, cur, product, partner, branch, agent, int(arrears or 0),
                                (as_of - oldest).days if oldest else 0, int(principal or 0), int(outstanding or 0)))
    return rows


def arrears_of(session: Session, loan_id: int, as_of: dt.date,
               lenders: tuple[int, ...] | None = None) -> LoanArrears | None:
    rows = loan_arrears(session, as_of, [loan_id], lenders)
    return rows[0] if rows else None


def ratio(part: int, whole: int) -> Decimal:
    if not whole:
        return Decimal("0.0000")
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def par_table(rows: list[LoanArrears], dimension: str = "portfolio") -> list[dict]:
    """PAR per value of a dimension, per currency (amounts of different currencies never add up)."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension must be one of {DIMENSIONS}")
    groups: dict = defaultdict(lambda: {"loans": 0, "outstanding_principal": 0,
                                        **{f"at_risk_{n}": 0 for n in PAR_DAYS}})
    for r in rows:
        if r.outstanding_principal <= 0:
            continue  # repaid, written off or restructured away: no longer on the book
        g = groups[(r.key(dimension), r.currency)]
        g["loans"] += 1
        g["outstanding_principal"] += r.outstanding_principal
        for n in PAR_DAYS:
            if r.days_past_due > n:
                g[f"at_risk_{n}"] += r.outstanding_principal
    out = []
    for (value, currency), g in sorted(groups.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        out.append({dimension: value, "currency": currency, **g,
                    **{f"par{n}": ratio(g[f"at_risk_{n}"], g["outstanding_principal"]) for n in PAR_DAYS}})
    return out


def bucket_table(rows: list[LoanArrears]) -> list[dict]:
    """Loans, arrears and outstanding principal per arrears bucket and currency."""
    groups = {}
    for r in rows:
        if r.outstanding <= 0:
            continue
        g = groups.setdefault((r.currency, r.bucket), {"loans": 0, "arrears": 0, "outstanding_principal": 0})
        g["loans"] += 1
        g["arrears"] += r.arrears
        g["outstanding_principal"] += r.outstanding_principal
    return [{"currency": c, "bucket": b, **groups[(c, b)]}
            for c in sorted({c for c, _ in groups}) for b in BUCKETS if (c, b) in groups]


def month_ends(today: dt.date, months: int) -> list[dt.date]:
    """The last day of each of the `months` months before today's month, then today."""
    days, first = [], today.replace(day=1)
    for _ in range(months):
        last = first - dt.timedelta(days=1)
        days.append(last)
        first = last.replace(day=1)
    return sorted(days) + [today]


def par_trend(session: Session, days: list[dt.date], lenders: tuple[int, ...] | None = None) -> list[dict]:
    """Portfolio PAR of `lenders` (None: all) at each date (one row per date and currency)."""
    trend = []
    for day in days:
        for row in par_table(loan_arrears(session, day, lenders=lenders)):
            trend.append({"date": day, **{k: v for k, v in row.items() if k != "portfolio"}})
    return trend
