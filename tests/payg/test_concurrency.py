"""Payments arriving at the same moment for one device never share a count. On PostgreSQL the
device row lock does the work; on SQLite writers are serialised by BEGIN IMMEDIATE."""
import threading

from openpaygo import TokenType
from sqlmodel import Session, select

from gateway import ledger
from gateway.db import engine_for
from gateway.models import Device, Loan, PaygToken, Payment
from gateway.payg import service
from tests.helpers import codes_in, payg_loan, sms_for


def _run_together(jobs):
    barrier = threading.Barrier(len(jobs))
    errors = []

    def run(job):
        try:
            barrier.wait(timeout=30)
            job()
        except Exception as exc:  # reported below; a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [], [str(e.orig) if hasattr(e, "orig") else str(e) for e in errors[:3]]


def test_20_simultaneous_payments_get_20_distinct_consecutive_counts(factory, session, settings):
    _, loan, device = payg_loan(factory, principal="100000")
    engine = engine_for(settings.database_url)

    def one_payment(i):
        def job():
            with Session(engine, expire_on_commit=False) as s:
                p = Payment(provider="mpesa", provider_txn_id=f"TXCON{i}", amount=5000 * (i % 3 + 1), currency="KES")
                s.add(p)
                s.flush()
                ledger.post_payment(s, p, loan.id)
                s.commit()
        return job

    _run_together([one_payment(i) for i in range(20)])

    tokens = session.exec(select(PaygToken).order_by(PaygToken.count)).all()
    assert [t.count for t in tokens] == list(range(2, 42, 2))  # ADD_TIME codes use even counts
    assert len({t.payment_id for t in tokens}) == 20
    assert session.exec(select(Device)).one().token_count == 40
    # the device takes every code, in the order they were made, for exactly what each paid
    payments = {p.id: p for p in session.exec(select(Payment))}
    for t in tokens:
        code = codes_in(sms_for(session, payments[t.payment_id]).text)[0]
        assert device.enter(code) == (TokenType.ADD_TIME, payments[t.payment_id].amount // 5000)
    assert device.days == sum(p.amount for p in payments.values()) // 5000


def test_operator_codes_and_payments_at_the_same_moment_never_share_a_count(factory, session, settings):
    _, loan, device = payg_loan(factory, principal="100000")
    engine = engine_for(settings.database_url)

    def payment(i):
        def job():
            with Session(engine, expire_on_commit=False) as s:
                p = Payment(provider="mpesa", provider_txn_id=f"TXMIX{i}", amount=5000, currency="KES")
                s.add(p)
                s.flush()
                ledger.post_payment(s, p, loan.id)
                s.commit()
        return job

    def goodwill(i):
        def job():
            with Session(engine, expire_on_commit=False) as s:
                service.issue_manual_token(s, "SOL-0001", "add_time", days=2, reason=f"outage {i}", actor="agent:1")
                s.commit()
        return job

    _run_together([payment(i) for i in range(5)] + [goodwill(i) for i in range(5)])
    tokens = session.exec(select(PaygToken).order_by(PaygToken.count)).all()
    assert [t.count for t in tokens] == list(range(2, 22, 2))
    for t in tokens:
        assert device.enter(t.token)[0] == TokenType.ADD_TIME
    assert device.days == 5 * 1 + 5 * 2
    assert session.get(Loan, loan.id).status == "active"
