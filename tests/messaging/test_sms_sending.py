"""Sending stored SMS through the real africastalking SDK to a local AT stand-in."""
import datetime as dt

import time_machine

from gateway.messaging import queue_sms
from gateway.models import Message
from tests.helpers import run_jobs, scheduled_at

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


def _receipt(session, borrower, kind="reply"):
    m = queue_sms(session, borrower, "balance_none", kind=kind, lender="Jirani Finance", help_line="0800 720 000")
    session.commit()
    return m


def _reload(session, m):
    session.expire(m)
    m = session.get(Message, m.id)
    session.commit()  # end the read transaction: on SQLite it holds the write lock the jobs need
    return m


def test_sms_is_sent_once_with_cost_and_provider_id(at_server, factory, session):
    b = factory.borrower(language="en")
    m = _receipt(session, b)
    run_jobs()
    m = _reload(session, m)
    assert at_server.sms == [{"username": "jirani", "to": b.phone, "message": "Jirani Finance: You have no active loan "
                              "with us. Help line: 0800 720 000", "bulkSMSMode": "1"}]
    assert (m.status, m.status_code, m.provider_message_id, m.cost, m.cost_minor, m.attempts) == \
        ("sent", 101, "ATXid_0001", "KES 0.8000", 80, 1)
    assert [h["status"] for h in m.status_history] == ["sending", "sent"]
    # sending the same message again does nothing
    from gateway.workers.sms import send_message
    assert send_message(m.id) == "sent"
    assert len(at_server.sms) == 1


def test_retryable_failures_back_off_then_succeed(at_server, factory, session):
    at_server.sms_replies = [{"http": 500}, {"code": 502}, {"sleep": 1.5}]  # 5xx, per-recipient 502, timeout
    b = factory.borrower(language="sw")
    with time_machine.travel(T0, tick=True) as clock:
        m = _receipt(session, b)
        run_jobs()
        assert _reload(session, m).status == "retrying"
        waits = []
        for _ in range(3):
            (due,) = scheduled_at()
            waits.append(round((due - dt.datetime.now(dt.UTC)).total_seconds() / 60))
            clock.move_to(due + dt.timedelta(seconds=1))
            run_jobs()
    m = _reload(session, m)
    assert waits == [1, 2, 4]  # exponential backoff
    assert (m.status, m.attempts, m.provider_message_id) == ("sent", 4, "ATXid_0004")
    assert [h["status"] for h in m.status_history] == ["sending", "retrying"] * 3 + ["sending", "sent"]
    assert len(at_server.sms) == 4


def test_retries_stop_at_the_cap_with_a_final_status(at_server, factory, session, monkeypatch):
    monkeypatch.setenv("SMS_MAX_RETRIES", "2")
    at_server.sms_replies = [{"code": 500}] * 5
    b = factory.borrower()
    with time_machine.travel(T0, tick=True) as clock:
        m = _receipt(session, b)
        run_jobs()
        while scheduled_at():
            clock.move_to(scheduled_at()[0] + dt.timedelta(seconds=1))
            run_jobs()
    m = _reload(session, m)
    assert (m.status, m.attempts, m.failure_reason) == ("failed", 3, "InternalServerError")
    assert len(at_server.sms) == 3


def test_permanent_failure_is_not_retried(at_server, factory, session):
    at_server.sms_replies = [{"code": 406}]
    b = factory.borrower()
    m = _receipt(session, b)
    run_jobs()
    m = _reload(session, m)
    assert (m.status, m.status_code, m.failure_reason, m.attempts) == ("failed", 406, "UserInBlacklist", 1)
    assert scheduled_at() == [] and len(at_server.sms) == 1


def test_opted_out_borrower_gets_receipts_but_not_reminders(at_server, factory, session):
    b = factory.borrower(language="en")
    b.opted_out = True
    session.add(b)
    session.commit()
    reply = _receipt(session, b, kind="transactional")
    reminder = _receipt(session, b, kind="reminder")
    run_jobs()
    assert _reload(session, reply).status == "sent"
    assert _reload(session, reminder).status == "opted_out"
    assert len(at_server.sms) == 1
