"""Allocation: oldest installment first, fees -> interest -> principal, rest as credit, and the
ledger always balances."""
import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlmodel import select

from gateway import ledger
from gateway.models import LedgerEntry, Loan, Payment, PaymentStatus


def pay(session, loan, amount_minor, txn="TX1", currency="KES"):
    p = Payment(provider="manual", provider_txn_id=txn, amount=amount_minor, currency=currency)
    session.add(p)
    session.flush()
    entries = ledger.post_payment(session, p, loan.id)
    session.commit()
    return p, entries


def test_payment_goes_to_oldest_installment_fees_then_interest_then_principal(factory, session):
    loan = factory.loan(factory.borrower(), principal="1000", count=2, rate="0.10", fee="50")
    # each installment: principal 500.00, interest 100.00, fees 50.00
    p, entries = pay(session, loan, 12000)  # KES 120.00
    assert [(e.component, e.amount) for e in entries] == [("fees", 5000), ("interest", 7000)]
    first, second = ledger.installments(session, loan.id)
    assert (first.fees_paid, first.interest_paid, first.principal_paid, first.status) == (5000, 7000, 0, "partial")
    assert second.amount_paid == 0 and second.status == "pending"
    assert p.status == PaymentStatus.posted and p.loan_id == loan.id


def test_overpayment_is_kept_as_credit_and_loan_is_repaid(factory, session):
    loan = factory.loan(factory.borrower(), principal="1000", count=2, rate="0")
    _, entries = pay(session, loan, 150000)
    assert entries[-1].component == "credit" and entries[-1].amount == 50000
    bal = ledger.balance(session, session.get(Loan, loan.id), dt.date(2027, 6, 1))
    assert (bal.outstanding, bal.arrears, bal.credit) == (0, 0, 50000)
    assert session.get(Loan, loan.id).status == "repaid"


def test_balance_separates_arrears_from_not_yet_due(factory, session):
    loan = factory.loan(factory.borrower(), principal="1200", count=3, rate="0", first_due=dt.date(2026, 10, 1))
    pay(session, loan, 30000)
    bal = ledger.balance(session, loan, dt.date(2026, 11, 15))  # Oct 1 and Nov 1 are past due
    assert bal.outstanding == 90000
    assert bal.arrears == 50000
    assert bal.overdue_since == dt.date(2026, 10, 1) and bal.days_late(dt.date(2026, 11, 15)) == 45
    assert bal.next_due_date == dt.date(2026, 12, 1) and bal.next_due_amount == 40000  # never a past date


def test_currency_mismatch_is_refused_and_nothing_is_allocated(factory, session):
    loan = factory.loan(factory.borrower())
    p = Payment(provider="manual", provider_txn_id="UG1", amount=5000, currency="UGX")
    session.add(p)
    session.flush()
    with pytest.raises(ledger.LedgerError, match="UGX"):
        ledger.post_payment(session, p, loan.id)
    session.rollback()
    assert session.exec(select(LedgerEntry)).all() == []


def test_posting_twice_is_refused(factory, session):
    loan = factory.loan(factory.borrower())
    p, _ = pay(session, loan, 1000)
    with pytest.raises(ledger.LedgerError, match="already posted"):
        ledger.post_payment(session, p, loan.id)


def test_post_is_audited(factory, session):
    from gateway.models import AuditEvent
    loan = factory.loan(factory.borrower())
    p, _ = pay(session, loan, 1000)
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "payment.posted")).one()
    assert event.entity_id == str(p.id) and event.data["amount"] == 1000


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    count=st.integers(1, 6),
    principal=st.integers(1, 50_000).map(lambda k: k * 100),
    fee=st.integers(0, 500).map(lambda k: k * 10),
    rate=st.sampled_from(["0", "0.015", "0.05", "0.1"]),
    method=st.sampled_from(["flat", "declining"]),
    payments=st.lists(st.integers(1, 3_000_000), min_size=1, max_size=6),
)
def test_allocation_invariants(factory, session, count, principal, fee, rate, method, payments):
    session.rollback()
    loan = Loan(borrower_id=factory.borrower().id, product="p", principal=principal, currency="KES",
                account_ref=f"H{factory._phone}")
    session.add(loan)
    session.flush()
    from gateway.ledger import schedule
    rows = schedule.generate(principal, Decimal(rate), count, dt.date(2026, 1, 5), "weekly", method, fee)
    schedule.attach(session, loan, rows)
    session.commit()
    for k, amount in enumerate(payments):
        before = [(i.id, i.outstanding) for i in ledger.installments(session, loan.id)]
        p, entries = pay(session, loan, amount, txn=f"T{loan.id}-{k}")
        # balanced: what was allocated is exactly what was paid
        assert sum(e.amount for e in entries) == amount
        assert all(e.amount > 0 for e in entries)
        insts = ledger.installments(session, loan.id)
        # never negative, never over-paid
        for i in insts:
            for c in ("principal", "interest", "fees"):
                assert 0 <= getattr(i, f"{c}_paid") <= getattr(i, f"{c}_due")
        # oldest first: an installment only receives money once every older one is fully paid
        touched = {e.installment_id for e in entries if e.installment_id}
        outstanding_before = dict(before)
        for inst_id, _ in before:
            if inst_id in touched:
                older = [iid for iid, _ in before[: [b[0] for b in before].index(inst_id)]]
                assert all(next(i for i in insts if i.id == o).outstanding == 0 for o in older)
        # credit only once everything is paid
        if any(e.component == "credit" for e in entries):
            assert all(i.outstanding == 0 for i in insts)
        assert sum(outstanding_before.values()) - sum(i.outstanding for i in insts) + sum(
            e.amount for e in entries if e.component == "credit") == amount
