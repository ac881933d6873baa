"""Repayment schedules: generated (flat or declining balance, weekly or monthly) or imported
from the CSV a lender already has."""
from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlmodel import Session, select

from gateway.models import Installment, Loan
from gateway.money import MoneyError, to_minor

FREQUENCIES = ("weekly", "monthly")
METHODS = ("flat", "declining")
MAX_INSTALLMENTS = 520  # ten years of weekly installments; more is a typing mistake
MAX_RATE = Decimal(1)  # 100% of the balance a period
FIRST_DUE_RANGE = (dt.date(1970, 1, 1), dt.date(2999, 12, 31))  # so every later due date is a date too


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True)
class Row:
    due_date: dt.date
    principal: int
    interest: int
    fees: int


def add_months(day: dt.date, months: int) -> dt.date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_dates(first_due: dt.date, count: int, frequency: str) -> list[dt.date]:
    if frequency == "weekly":
        return [first_due + dt.timedelta(weeks=k) for k in range(count)]
    if frequency == "monthly":
        return [add_months(first_due, k) for k in range(count)]
    raise ScheduleError(f"frequency must be one of {FREQUENCIES}")


def _round(value: Decimal, unit: int = 1) -> int:
    return int((value / unit).quantize(Decimal(1), rounding=ROUND_HALF_UP)) * unit


def generate(principal: int, rate_per_period: Decimal, count: int, first_due: dt.date,
             frequency: str = "monthly", method: str = "flat", fee_per_installment: int = 0,
             unit: int = 1) -> list[Row]:
    """Amounts in minor units. `rate_per_period` is the interest rate of one period (e.g.
    Decimal('0.03') a month). Each installment but the last is a multiple of `unit` minor units
    (100: whole shillings, what a paybill takes); the last absorbs the remainder, so principal sums exactly."""
    if unit < 1:
        raise ScheduleError("the rounding unit must be positive")
    if principal <= 0 or count <= 0:
        raise ScheduleError("principal and installment count must be positive")
    if count > MAX_INSTALLMENTS:
        raise ScheduleError(f"at most {MAX_INSTALLMENTS} installments")
    if not FIRST_DUE_RANGE[0] <= first_due <= FIRST_DUE_RANGE[1]:
        raise ScheduleError(f"the first due date must be from {FIRST_DUE_RANGE[0]} to {FIRST_DUE_RANGE[1]}")
    if (not isinstance(rate_per_period, Decimal) or not rate_per_period.is_finite()
            or not 0 <= rate_per_period <= MAX_RATE):
        raise ScheduleError(f"rate must be a Decimal from 0 to {MAX_RATE} (a share of the balance per period)")
    dates = due_dates(first_due, count, frequency)
    rows: list[Row] = []
    if method == "flat":
        share, interest = principal // count // unit * unit, _round(Decimal(principal) * rate_per_period, unit)
        for k, day in enumerate(dates):
            p = principal - share * (count - 1) if k == count - 1 else share
            rows.append(Row(day, p, interest, fee_per_installment))
    elif method == "declining":
        r = rate_per_period
        payment = Decimal(principal) / count if r == 0 else Decimal(principal) * r / (1 - (1 + r) ** -count)
        left = principal
        for k, day in enumerate(dates):
            interest = _round(Decimal(left) * r)
            p = left if k == count - 1 else min(left, _round(payment, unit) - interest)
            rows.append(Row(day, p, interest, fee_per_installment))
            left -= p
    else:
        raise ScheduleError(f"method must be one of {METHODS}")
    return rows


def parse_csv(text: str, currency: str) -> list[Row]:
    """Columns: due_date (YYYY-MM-DD), principal, interest, fees — amounts in major units."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = {"due_date", "principal", "interest", "fees"} - set(reader.fieldnames or [])
    if missing:
        raise ScheduleError(f"CSV is missing columns: {', '.join(sorted(missing))}")
    rows, errors = [], []
    for line, rec in enumerate(reader, start=2):
        try:
            rows.append(Row(dt.date.fromisoformat(rec["due_date"].strip()),
                            *(to_minor(rec[c] or "0", currency) for c in ("principal", "interest", "fees"))))
        except (ValueError, MoneyError) as exc:
            errors.append(f"line {line}: {exc}")
    if errors:
        raise ScheduleError("; ".join(errors))
    if not rows:
        raise ScheduleError("CSV has no installments")
    if any(min(r.principal, r.interest, r.fees) < 0 for r in rows):
        raise ScheduleError("amounts must not be negative")
    return sorted(rows, key=lambda r: r.due_date)


def attach(session: Session, loan: Loan, rows: list[Row]) -> list[Installment]:
    """Give a loan its schedule. A loan that already has one is refused, not overwritten."""
    if session.exec(select(Installment.id).where(Installment.loan_id == loan.id)).first():
        raise ScheduleError(f"loan {loan.account_ref} already has a schedule")
    if sum(r.principal for r in rows) != loan.principal:
        raise ScheduleError("the schedule's principal does not add up to the loan's principal")
    insts = [Installment(loan_id=loan.id, seq=k + 1, due_date=r.due_date, principal_due=r.principal,
                         interest_due=r.interest, fees_due=r.fees) for k, r in enumerate(rows)]
    session.add_all(insts)
    session.flush()
    return insts
