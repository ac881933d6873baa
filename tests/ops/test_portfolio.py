"""Arrears, days past due and PAR as of any date, from the ledger, against a simple reference."""
import datetime as dt
from decimal import Decimal

import time_machine
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from gateway import ledger
from gateway.ledger import schedule
from gateway.models import Payment
from gateway.ops import portfolio
from tests.helpers import pay_on

UTC = dt.UTC


def test_arrears_as_of_a_date_ignores_later_payments(factory, session):
    loan = factory.loan(factory.borrower(), principal="3000", count=3, rate="0", first_due=dt.date(2026, 10, 1))
    # installments of KES 1,000 due Oct 1, Nov 1, Dec 1
    pay_on(session, loan, 150000, dt.date(2026, 11, 20), "P1")

    before = portfolio.arrears_of(session, loan.id, dt.date(2026, 11, 19))
    assert (before.arrears, before.days_past_due, before.bucket) == (200000, 49, "31-60")
    assert before.outstanding_principal == 300000

    after = portfolio.arrears_of(session, loan.id, dt.date(2026, 11, 20))  # paid that day: counts
    assert (after.arrears, after.days_past_due, after.bucket) == (50000, 19, "1-30")
    assert after.outstanding_principal == 150000

    on_due_day = portfolio.arrears_of(session, loan.id, dt.date(2026, 11, 1))  # due today is not late yet
    assert (on_due_day.arrears, on_due_day.days_past_due) == (100000, 31)


def test_loan_not_yet_disbursed_is_not_on_the_book(factory, session):
    loan = factory.loan(factory.borrower())  # disbursed 2026-11-01
    assert portfolio.arrears_of(session, loan.id, dt.date(2026, 10, 31)) is None
    assert portfolio.arrears_of(session, loan.id, dt.date(2026, 11, 1)).outstanding_principal == 1000000


def test_par_per_branch_and_buckets(factory, session):
    as_of = dt.date(2027, 2, 15)
    north = factory.borrower(branch="Kisumu")
    south = factory.borrower(branch="Mombasa")
    late = factory.loan(north, principal="1000", count=2, rate="0", first_due=dt.date(2026, 11, 1))  # 106 days late
    fresh = factory.loan(north, principal="3000", count=3, rate="0", first_due=dt.date(2027, 2, 1))  # 14 days late
    ok = factory.loan(south, principal="2000", count=2, rate="0", first_due=dt.date(2027, 3, 1))  # not due yet
    rows = portfolio.loan_arrears(session, as_of)
    assert {r.loan_id: r.bucket for r in rows} == {late.id: "90+", fresh.id: "1-30", ok.id: "current"}

    by_branch = {r["branch"]: r for r in portfolio.par_table(rows, "branch")}
    assert by_branch["Kisumu"]["outstanding_principal"] == 400000
    assert by_branch["Kisumu"]["par1"] == Decimal("1.0000")
    assert by_branch["Kisumu"]["par30"] == Decimal("0.2500")  # 1,000 of 4,000
    assert by_branch["Kisumu"]["par90"] == Decimal("0.2500")
    assert by_branch["Mombasa"]["par1"] == Decimal("0.0000")

    whole = portfolio.par_table(rows)[0]
    assert (whole["outstanding_principal"], whole["par30"]) == (600000, Decimal("0.1667"))
    buckets = {b["bucket"]: b for b in portfolio.bucket_table(rows)}
    assert buckets["90+"]["arrears"] == 100000 and buckets["1-30"]["arrears"] == 100000
    assert buckets["current"]["loans"] == 1 and "31-60" not in buckets


def reference(rows, payments, as_of):
    """Oldest installment first, fees -> interest -> principal, with the money paid up to as_of."""
    money = sum(amount for day, amount in payments if day <= as_of)
    arrears, oldest, principal_left = 0, None, 0
    for r in rows:
        due = r.fees + r.interest + r.principal
        take = min(money, due)
        money -= take
        principal_left += r.principal - max(0, take - r.fees - r.interest)
        if r.due_date < as_of and take < due:
            arrears += due - take
            oldest = oldest or r.due_date
    return arrears, (as_of - oldest).days if oldest else 0, principal_left


loan_spec = st.fixed_dictionaries({
    "count": st.integers(1, 5),
    "principal": st.integers(10, 5_000).map(lambda k: k * 100),
    "rate": st.sampled_from(["0", "0.05"]),
    "fee": st.sampled_from([0, 2500]),
    "frequency": st.sampled_from(["weekly", "monthly"]),
    "first_due": st.integers(0, 60).map(lambda k: dt.date(2026, 1, 1) + dt.timedelta(days=k)),
    "branch": st.sampled_from(["Kisumu", "Nakuru"]),
    "payments": st.lists(st.tuples(st.integers(0, 200), st.integers(1, 400_000)), max_size=4),
})


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=st.lists(loan_spec, min_size=1, max_size=3),
       as_of_offsets=st.lists(st.integers(0, 240), min_size=1, max_size=3))
def test_arrears_and_par_match_reference(factory, session, specs, as_of_offsets):
    session.rollback()
    built = []
    for spec in specs:
        rows = schedule.generate(spec["principal"], Decimal(spec["rate"]), spec["count"], spec["first_due"],
                                 spec["frequency"], "flat", spec["fee"])
        loan = factory.loan(factory.borrower(branch=spec["branch"]), principal=str(Decimal(spec["principal"]) / 100),
                            count=spec["count"], rate=spec["rate"], first_due=spec["first_due"],
                            frequency=spec["frequency"], fee=str(Decimal(spec["fee"]) / 100))
        loan.disbursed_on = dt.date(2025, 12, 1)
        session.add(loan)
        session.commit()
        payments = sorted((dt.date(2026, 1, 1) + dt.timedelta(days=d), a) for d, a in spec["payments"])
        for k, (day, amount) in enumerate(payments):
            pay_on(session, loan, amount, day, f"H{loan.id}-{k}")
        built.append((loan, rows, payments))

    ids = [loan.id for loan, _, _ in built]
    for offset in as_of_offsets:
        as_of = dt.date(2026, 1, 1) + dt.timedelta(days=offset)
        got = {r.loan_id: r for r in portfolio.loan_arrears(session, as_of, ids)}
        expected_total, expected_risk = 0, {n: 0 for n in portfolio.PAR_DAYS}
        for loan, rows, payments in built:
            arrears, dpd, principal_left = reference(rows, payments, as_of)
            r = got[loan.id]
            assert (r.arrears, r.days_past_due, r.outstanding_principal) == (arrears, dpd, principal_left)
            if principal_left > 0:
                expected_total += principal_left
                for n in expected_risk:
                    expected_risk[n] += principal_left if dpd > n else 0
        table = portfolio.par_table(list(got.values()))
        if expected_total:
            (row,) = table
            assert row["outstanding_principal"] == expected_total
            for n in portfolio.PAR_DAYS:
                assert row[f"par{n}"] == portfolio.ratio(expected_risk[n], expected_total)
        else:
            assert table == []


@hsettings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=loan_spec, reverse=st.lists(st.booleans(), min_size=4, max_size=4),
       as_of_offset=st.integers(0, 240))
def test_with_reversals_the_ledger_view_matches_the_balance_columns(factory, session, spec, reverse, as_of_offset):
    """Reversals put money back on installments out of order; after the last entry the as-of
    computation must agree with the live *_paid columns (ledger.balance)."""
    session.rollback()
    loan = factory.loan(factory.borrower(), principal=str(Decimal(spec["principal"]) / 100), count=spec["count"],
                        rate=spec["rate"], first_due=spec["first_due"], frequency=spec["frequency"],
                        fee=str(Decimal(spec["fee"]) / 100))
    loan.disbursed_on = dt.date(2025, 12, 1)
    session.add(loan)
    session.commit()
    payments = sorted((dt.date(2026, 1, 1) + dt.timedelta(days=d), a) for d, a in spec["payments"])
    for k, (day, amount) in enumerate(payments):
        p = pay_on(session, loan, amount, day, f"V{loan.id}-{k}")
        if reverse[k]:
            with time_machine.travel(dt.datetime.combine(day, dt.time(11), tzinfo=UTC), tick=False):
                ledger.reverse_payment(session, session.get(Payment, p.id), "test", "bounced")
                session.commit()
    as_of = dt.date(2026, 8, 1) + dt.timedelta(days=as_of_offset)  # after every entry
    row = portfolio.arrears_of(session, loan.id, as_of)
    bal = ledger.balance(session, session.get(type(loan), loan.id), as_of)
    assert (row.arrears, row.outstanding) == (bal.arrears, bal.outstanding)
    assert row.days_past_due == bal.days_late(as_of)
