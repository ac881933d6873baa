"""Flags are raised once with a reason, resolved with a note, and audited; write-off and
restructure are ledger operations that keep history."""
import datetime as dt

import pytest
import time_machine
from sqlmodel import select

from gateway import ledger
from gateway.i18n import Speaker
from gateway.models import AuditEvent, Flag, Installment, LedgerEntry, Loan, Message, Payment
from gateway.ops import flags, loan_ops, portfolio
from tests.helpers import pay_on

UTC = dt.UTC


def test_scan_raises_each_kind_once_with_its_reason(factory, session, settings):
    amina = factory.borrower(phone="+254712300001")
    late = factory.loan(amina, principal="1000", count=2, rate="0", first_due=dt.date(2026, 11, 1))
    baraka = factory.borrower(name="Baraka Otieno", phone="+254712300002")
    small = factory.loan(baraka, principal="100", count=1, rate="0", first_due=dt.date(2027, 1, 1))
    with time_machine.travel(dt.datetime(2026, 11, 5, 9, tzinfo=UTC), tick=False):
        p = Payment(provider="mpesa", provider_txn_id="QX1", amount=50000, currency="KES", payer_phone="0799111222")
        session.add(p)
        session.flush()
        ledger.post_payment(session, p, small.id)  # 500 against a balance of 100, from someone else
        for k in range(2):
            session.add(Payment(provider="mpesa", provider_txn_id=f"R{k}", amount=100, currency="KES",
                                loan_id=late.id, status="reversed"))
        session.add(Message(borrower_id=baraka.id, phone=baraka.phone, kind="reminder", template="due",
                            language="sw", text="x", encoding="GSM-7", status="undelivered",
                            failure_reason="UserDoesNotExist"))
        session.add(Message(borrower_id=amina.id, phone=amina.phone, kind="reminder", template="due", language="sw",
                            text="x", encoding="GSM-7", status="undelivered", failure_reason="DeliveryFailure"))
        session.commit()

    raised = flags.scan(session, dt.date(2027, 2, 5), settings)
    session.commit()
    by_kind = {f.kind: f for f in raised}
    assert set(by_kind) == {"default_eligible", "foreign_payer", "overpayment", "reversals", "bad_number"}
    assert by_kind["default_eligible"].loan_id == late.id
    assert by_kind["default_eligible"].reason == "96 days past due (limit 90)"
    assert by_kind["foreign_payer"].reason == "paid from +254799***222, not the borrower's number"
    assert by_kind["overpayment"].payment_id == p.id and by_kind["overpayment"].details["credit"] == 40000
    assert by_kind["reversals"].reason == "2 payments reversed"
    assert by_kind["bad_number"].reason == "messages to +254712***002 fail permanently (userdoesnotexist)"
    assert by_kind["overpayment"].reason == "paid Ksh500 against a balance of Ksh100"
    sw = Speaker("sw")
    assert flags.reason_text(by_kind["overpayment"], sw) == "imelipwa Ksh 500 dhidi ya deni la Ksh 100"
    assert flags.reason_text(by_kind["default_eligible"], sw) == "siku 96 za kuchelewa (kikomo 90)"
    assert flags.scan(session, dt.date(2027, 2, 6), settings) == []  # once only
    assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "flag.raised")).all()) == 5


def test_no_payment_for_long_while_in_arrears_is_flagged(factory, session, settings):
    loan = factory.loan(factory.borrower(), principal="3000", count=3, rate="0", first_due=dt.date(2026, 11, 1))
    pay_on(session, loan, 100000, dt.date(2026, 11, 2), "P1")
    assert flags.scan(session, dt.date(2026, 12, 31), settings) == []  # 29 days late, paid 59 days ago
    (flag,) = flags.scan(session, dt.date(2027, 1, 1), settings)
    assert flag.reason == "in arrears and no payment for 60 days (limit 60)"


def test_resolve_needs_a_note_and_is_audited(factory, session, settings):
    factory.loan(factory.borrower(), principal="1000", count=1, rate="0", first_due=dt.date(2026, 11, 1))
    (flag,) = flags.scan(session, dt.date(2027, 3, 1), settings)
    with pytest.raises(flags.FlagError, match="say how"):
        flags.resolve(session, flag.id, "agent:1", "  ")
    flags.resolve(session, flag.id, "agent:1", "Borrower visited, pays Friday")
    session.commit()
    assert session.get(Flag, flag.id).status == "resolved"
    with pytest.raises(flags.FlagError, match="already resolved"):
        flags.resolve(session, flag.id, "agent:1", "again")
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "flag.resolved")).one()
    assert event.actor == "agent:1" and event.data["note"] == "Borrower visited, pays Friday"
    assert flags.scan(session, dt.date(2027, 3, 2), settings) == []  # a resolved flag is not raised again


def test_write_off_closes_the_balance_with_ledger_entries_and_keeps_history(factory, session):
    loan = factory.loan(factory.borrower(), principal="2000", count=2, rate="0", first_due=dt.date(2026, 11, 1))
    pay_on(session, loan, 50000, dt.date(2026, 11, 3), "P1")
    with time_machine.travel(dt.datetime(2027, 3, 1, 12, tzinfo=UTC), tick=False):
        entries = loan_ops.write_off(session, loan.id, "agent:7", "borrower emigrated")
        session.commit()
    assert sum(e.amount for e in entries) == 150000 and {e.kind for e in entries} == {"writeoff"}
    assert session.get(Loan, loan.id).status == "written_off"
    assert ledger.balance(session, loan, dt.date(2027, 3, 2)).outstanding == 0
    assert portfolio.arrears_of(session, loan.id, dt.date(2027, 2, 28)).arrears == 150000  # before: still owed
    assert portfolio.arrears_of(session, loan.id, dt.date(2027, 3, 1)).outstanding == 0
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "loan.written_off")).one()
    assert event.data == {"reason": "borrower emigrated", "amount": 150000, "principal": 150000}
    with pytest.raises(loan_ops.LoanOpError, match="written_off"):
        loan_ops.write_off(session, loan.id, "agent:7", "again")


def test_restructure_replaces_the_rest_of_the_schedule(factory, session):
    loan = factory.loan(factory.borrower(), principal="2000", count=2, rate="0.1", first_due=dt.date(2026, 11, 1))
    pay_on(session, loan, 120000, dt.date(2026, 11, 2), "P1")  # first installment (1,000 + 200 interest)
    with time_machine.travel(dt.datetime(2027, 1, 10, 8, tzinfo=UTC), tick=False):
        new = loan_ops.restructure(session, loan.id, "agent:7", "harvest failed", count=4,
                                   first_due=dt.date(2027, 2, 1))
        session.commit()
    assert [(i.seq, i.due_date, i.principal_due) for i in new] == [
        (3, dt.date(2027, 2, 1), 25000), (4, dt.date(2027, 3, 1), 25000),
        (5, dt.date(2027, 4, 1), 25000), (6, dt.date(2027, 5, 1), 25000)]
    closed = session.exec(select(LedgerEntry).where(LedgerEntry.kind == "restructure")).all()
    assert sorted((e.component, e.amount) for e in closed) == [("interest", 20000), ("principal", 100000)]
    assert len(session.exec(select(Installment).where(Installment.loan_id == loan.id)).all()) == 6  # none deleted
    before = portfolio.arrears_of(session, loan.id, dt.date(2027, 1, 9))
    assert (before.days_past_due, before.outstanding_principal) == (39, 100000)
    after = portfolio.arrears_of(session, loan.id, dt.date(2027, 1, 10))
    assert (after.days_past_due, after.arrears, after.outstanding_principal) == (0, 0, 100000)
    assert ledger.balance(session, loan, dt.date(2027, 1, 10)).outstanding == 100000
