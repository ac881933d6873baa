"""Promises, the call-centre queue and the /api/ops endpoints, with their role checks."""
import datetime as dt

import pytest
import time_machine
from sqlmodel import select

from gateway.models import AuditEvent, CallLog, Flag, LedgerEntry, Payment, Promise
from gateway.ops import callcentre, promises
from tests.helpers import pay_on, staff

UTC = dt.UTC
NOW = dt.datetime(2027, 1, 15, 9, tzinfo=UTC)  # 12:00 in Nairobi


def test_promise_rules_and_open_promise_window(factory, session):
    loan = factory.loan(factory.borrower(), principal="2000", count=2, rate="0", first_due=dt.date(2026, 12, 1))
    today = dt.date(2027, 1, 15)
    with pytest.raises(promises.PromiseError, match="next 7 days"):
        promises.make_promise(session, loan, today + dt.timedelta(days=8), 50000, "ussd", today=today)
    with pytest.raises(promises.PromiseError, match="positive"):
        promises.make_promise(session, loan, today, 0, "ussd", today=today)
    with time_machine.travel(NOW, tick=False):
        promises.make_promise(session, loan, dt.date(2027, 1, 18), 50000, "ussd", today=today)
        session.commit()
    assert promises.has_open_promise(session, loan.id, dt.date(2027, 1, 18))
    assert not promises.has_open_promise(session, loan.id, dt.date(2027, 1, 19))
    assert promises.loans_with_open_promise(session, today) == {loan.id}
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "promise.made")).one().data["source"] == "ussd"

    pay_on(session, loan, 30000, dt.date(2027, 1, 17), "P1")
    pay_on(session, loan, 20000, dt.date(2027, 1, 19), "P2")  # too late for the promise
    assert promises.evaluate_due(session, dt.date(2027, 1, 18)) == []  # its date has not passed
    (done,) = promises.evaluate_due(session, dt.date(2027, 1, 19))
    assert (done.status, done.paid_amount) == ("broken", 30000)
    assert promises.evaluate_due(session, dt.date(2027, 1, 20)) == []  # safe to run twice


def test_kept_promise(factory, session):
    loan = factory.loan(factory.borrower(), principal="2000", count=2, rate="0", first_due=dt.date(2026, 12, 1))
    with time_machine.travel(NOW, tick=False):
        promise = promises.make_promise(session, loan, dt.date(2027, 1, 16), 40000, "call", today=NOW.date())
        session.commit()
    pay_on(session, loan, 40000, dt.date(2027, 1, 16), "P1", hour=20)
    promises.evaluate_due(session, dt.date(2027, 1, 17))
    assert session.get(Promise, promise.id).status == "kept"


def test_queue_order_broken_promises_first_then_amount_times_days(factory, session):
    factory.loan(factory.borrower(name="Big"), principal="10000", count=2, rate="0", first_due=dt.date(2026, 12, 1))
    factory.loan(factory.borrower(name="Old"), principal="1000", count=2, rate="0", first_due=dt.date(2026, 11, 1))
    broke = factory.loan(factory.borrower(name="Broke"), principal="600", count=2, rate="0",
                         first_due=dt.date(2027, 1, 1))
    waiting = factory.loan(factory.borrower(name="Waiting"), principal="9000", count=1, rate="0",
                           first_due=dt.date(2026, 12, 1))
    factory.loan(factory.borrower(name="Current"), principal="1000", count=1, rate="0", first_due=dt.date(2027, 2, 1))
    with time_machine.travel(dt.datetime(2027, 1, 5, 9, tzinfo=UTC), tick=False):
        promises.make_promise(session, broke, dt.date(2027, 1, 8), 30000, "ussd", today=dt.date(2027, 1, 5))
    with time_machine.travel(NOW, tick=False):
        promises.make_promise(session, waiting, dt.date(2027, 1, 20), 900000, "ussd", today=NOW.date())
    session.commit()
    items = callcentre.work_queue(session, NOW.date())
    # big: 10,000 x 45 days; old: 1,000 (Nov 1 + Dec 1 = 500 + 500) x 75 days; broke: 300 x 14 days
    assert [(i.borrower_name, i.arrears, i.days_past_due, i.broken_promise) for i in items] == [
        ("Broke", 30000, 14, True), ("Big", 1000000, 45, False), ("Old", 100000, 75, False)]


def test_call_api_logs_outcomes_and_promises(factory, session, client):
    loan = factory.loan(factory.borrower(), principal="2000", count=2, rate="0", first_due=dt.date(2026, 12, 1))
    agent, headers = staff(session, factory, "callcentre", "Wanjiku")
    url = f"/api/ops/loans/{loan.id}/calls"
    with time_machine.travel(NOW, tick=False):
        r = client.post(url, json={"outcome": "shouted"}, headers=headers)
        assert r.status_code == 400 and "outcome must be one of" in r.json["detail"]
        r = client.post(url, json={"outcome": "promise", "promise_date": "2027-01-18", "promise_amount": "12.345"},
                        headers=headers)
        assert r.status_code == 400 and "more decimals" in r.json["detail"]
        r = client.post(url, json={"outcome": "promise", "promise_date": "2027-02-18", "promise_amount": "500"},
                        headers=headers)
        assert r.status_code == 400 and "next 7 days" in r.json["detail"]
        r = client.post(url, json={"outcome": "promise", "promise_date": "2027-01-18", "promise_amount": "500",
                                   "note": "pays after market day"}, headers=headers)
        assert r.status_code == 201
        promise = session.get(Promise, r.json["promise_id"])
        assert (promise.amount, promise.source, promise.agent_id) == (50000, "call", agent.id)
        session.commit()  # SQLite: end our read so the app can write (rollback would expire loan)
        r = client.get(f"/api/ops/loans/{loan.id}/open-promise?date=2027-01-18", headers=headers)
        assert r.json["open_promise"] is True
        assert client.post(url, json={"outcome": "wrong_number"}, headers=headers).status_code == 201
        team = client.get("/api/ops/team", headers=headers).json
    assert [c.outcome for c in session.exec(select(CallLog).order_by(CallLog.id))] == ["promise", "wrong_number"]
    assert session.exec(select(Flag)).one().reason == "call-centre reached a wrong number"
    assert team["agents"] == [{"agent_id": agent.id, "name": "Wanjiku", "calls": 2, "quota": 40}]


def test_roles(factory, session, client):
    field, field_h = staff(session, factory, "field", "Otieno")
    cc, cc_h = staff(session, factory, "callcentre", "Wanjiku")
    _, boss_h = staff(session, factory, "manager", "Boss")
    assert client.get("/api/ops/queue").status_code == 401
    assert client.get("/api/ops/queue", headers=field_h).status_code == 403
    assert client.get("/api/ops/portfolio", headers=cc_h).status_code == 403
    assert client.get("/api/ops/portfolio?as_of=2027-13-01", headers=boss_h).status_code == 400
    assert client.get("/api/ops/portfolio?by=branch", headers=boss_h).status_code == 200
    # agents see only their own commissions; a manager sees anyone's
    r = client.get(f"/api/ops/commissions?month=2027-01&agent_id={cc.id}", headers=field_h)
    assert r.status_code == 403 and r.json["detail"] == "agents see only their own commissions"
    assert client.get("/api/ops/commissions?month=2027-01", headers=field_h).status_code == 200
    assert client.get("/api/ops/commissions?month=Jan", headers=field_h).status_code == 400
    assert client.get(f"/api/ops/commissions?month=2027-01&agent_id={cc.id}", headers=boss_h).status_code == 200
    # a field agent can't resolve suspense
    assert client.post("/api/payments/1/assign", json={"account_ref": "X"}, headers=field_h).status_code == 403


def test_suspense_resolve_goes_through_the_payments_service(factory, session):
    from gateway.ops import suspense

    loan = factory.loan(factory.borrower(), principal="2000", count=2, rate="0")
    p = Payment(provider="mpesa", provider_txn_id="SUS1", amount=70000, currency="KES", account_ref="BIZ 0000",
                status="suspense")
    session.add(p)
    session.commit()
    assert [x.provider_txn_id for x in suspense.suspense_payments(session)] == ["SUS1"]
    with pytest.raises(suspense.SuspenseError, match="no loan with account number 'nope'"):
        suspense.resolve(session, p.id, "nope", "agent:1")
    session.rollback()
    suspense.resolve(session, p.id, loan.account_ref.lower(), "agent:1")
    session.commit()
    assert sum(e.amount for e in session.exec(select(LedgerEntry).where(LedgerEntry.payment_id == p.id))) == 70000
    with pytest.raises(suspense.SuspenseError, match="not in suspense"):
        suspense.resolve(session, p.id, loan.account_ref, "agent:1")
    session.rollback()
    assert suspense.suspense_payments(session) == []
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "payment.assigned")).one().actor == "agent:1"


def test_flags_and_write_off_over_the_api(factory, session, client):
    loan = factory.loan(factory.borrower(), principal="1000", count=1, rate="0", first_due=dt.date(2026, 9, 1))
    loan.disbursed_on = dt.date(2026, 8, 1)
    session.add(loan)
    session.commit()
    _, boss_h = staff(session, factory, "manager", "Boss")
    with time_machine.travel(NOW, tick=False):
        (flag,) = client.post("/api/ops/flags/scan", headers=boss_h).json["raised"]
        assert flag["kind"] == "default_eligible"
        assert client.post(f"/api/ops/flags/{flag['id']}/resolve", json={}, headers=boss_h).status_code == 400
        r = client.post(f"/api/ops/flags/{flag['id']}/resolve", json={"note": "write off"}, headers=boss_h)
        assert r.json["status"] == "resolved"
        r = client.post(f"/api/ops/loans/{loan.id}/write-off", json={"reason": "136 days late"}, headers=boss_h)
        assert r.json == {"loan_id": loan.id, "written_off": 100000}
        r = client.post(f"/api/ops/loans/{loan.id}/write-off", json={"reason": "x"}, headers=boss_h)
        assert r.status_code == 400


def test_daily_job_runs_on_a_real_worker_and_is_safe_to_run_twice(factory, session, settings):
    from rq import Queue, SimpleWorker

    from gateway.queue import get_redis

    loan = factory.loan(factory.borrower(), principal="1000", count=1, rate="0", first_due=dt.date(2026, 12, 1))
    with time_machine.travel(dt.datetime(2027, 1, 2, 9, tzinfo=UTC), tick=False):
        promises.make_promise(session, loan, dt.date(2027, 1, 5), 100000, "ussd", today=dt.date(2027, 1, 2))
        session.commit()
    queue = Queue("default", connection=get_redis())
    first = queue.enqueue("gateway.workers.ops.daily_collections", "2027-03-05")
    second = queue.enqueue("gateway.workers.ops.daily_collections", "2027-03-05")
    with time_machine.travel(dt.datetime(2027, 3, 5, 9, tzinfo=UTC), tick=False):  # a day to come is refused
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert first.return_value()["promises"] == {1: "broken"}
    assert first.return_value()["flags"] == [f"default_eligible:{loan.id}"]
    assert second.return_value() == {"date": "2027-03-05", "promises": {}, "flags": []}
    assert session.exec(select(Flag)).one().reason == "94 days past due (limit 90)"
