import datetime as dt
from decimal import Decimal

import pytest

from gateway.ledger import schedule


def test_flat_monthly_schedule_sums_and_dates():
    rows = schedule.generate(1000000, Decimal("0.03"), 3, dt.date(2026, 1, 31), "monthly", "flat")
    assert [r.due_date for r in rows] == [dt.date(2026, 1, 31), dt.date(2026, 2, 28), dt.date(2026, 3, 31)]
    assert [r.principal for r in rows] == [333333, 333333, 333334]
    assert {r.interest for r in rows} == {30000}


def test_declining_balance_interest_falls_and_principal_sums():
    rows = schedule.generate(1000000, Decimal("0.05"), 4, dt.date(2026, 1, 7), "weekly", "declining")
    assert sum(r.principal for r in rows) == 1000000
    assert [r.interest for r in rows] == sorted((r.interest for r in rows), reverse=True)
    assert rows[0].interest == 50000
    assert [r.due_date for r in rows][-1] == dt.date(2026, 1, 28)
    # level payments (annuity) except the last, which absorbs rounding
    totals = [r.principal + r.interest for r in rows]
    assert max(totals[:-1]) - min(totals[:-1]) <= 1


@pytest.mark.parametrize("kw,msg", [
    (dict(frequency="daily"), "frequency"), (dict(method="balloon"), "method"),
])
def test_bad_parameters_are_refused(kw, msg):
    with pytest.raises(schedule.ScheduleError, match=msg):
        schedule.generate(1000, Decimal("0.1"), 2, dt.date(2026, 1, 1), **kw)


def test_csv_import(factory, session):
    b = factory.borrower()
    from gateway.borrowers import onboarding
    text = "due_date,principal,interest,fees\n2026-02-01,600.00,50,10\n2026-01-01,400,50.50,0\n"
    rows = schedule.parse_csv(text, "KES")
    assert rows[0].due_date == dt.date(2026, 1, 1) and rows[0].interest == 5050
    loan = onboarding.create_loan(session, b, "business loan", 100000, "KES", rows)
    session.commit()
    from gateway.ledger import installments
    assert [i.amount_due for i in installments(session, loan.id)] == [45050, 66000]
    with pytest.raises(schedule.ScheduleError, match="already has a schedule"):
        schedule.attach(session, loan, rows)


@pytest.mark.parametrize("text,msg", [
    ("due,principal\n", "missing columns"),
    ("due_date,principal,interest,fees\n2026-13-01,1,1,1\n", "line 2"),
    ("due_date,principal,interest,fees\n2026-01-01,1.001,0,0\n", "more decimals"),
    ("due_date,principal,interest,fees\n2026-01-01,abc,0,0\n", "line 2"),
    ("due_date,principal,interest,fees\n", "no installments"),
])
def test_csv_errors_name_the_line(text, msg):
    with pytest.raises(schedule.ScheduleError, match=msg):
        schedule.parse_csv(text, "KES")
