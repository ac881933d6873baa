"""Quiet hours (20:00-08:00 borrower time) are checked where a reminder or welcome leaves: on the
first try, on an RQ retry after AT answered 500, and when the sweeper enqueues a stored message.
The clock is frozen on each side of both edges of the window (Nairobi is UTC+3)."""
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from rq import Queue
from sqlmodel import select

from gateway.messaging import queue_sms
from gateway.models import CallStatus, Message, VoiceCall
from gateway.queue import get_redis
from gateway.workers import sweeper
from tests.helpers import run_jobs, scheduled_at

NAIROBI = ZoneInfo("Africa/Nairobi")
DAY = dt.date(2026, 11, 25)


def local(day: dt.date, clock: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.fromisoformat(clock), tzinfo=NAIROBI).astimezone(dt.UTC)


# (local time the message leaves, may it be sent then?, when it goes instead)
EDGES = [
    ("19:59", True, None),
    ("20:00", False, local(DAY + dt.timedelta(days=1), "08:00")),
    ("20:01", False, local(DAY + dt.timedelta(days=1), "08:00")),
    ("07:59", False, local(DAY, "08:00")),
    ("08:00", True, None),
    ("08:01", True, None),
]


def _reminder(session, borrower):
    m = queue_sms(session, borrower, "balance_none", kind="reminder", lender="Jirani Finance",
                  help_line="0800 720 000")
    session.commit()
    return m


def _status(session, message_id):
    session.expire_all()
    status = session.get(Message, message_id).status
    session.commit()
    return status


def _then_sent_once_at(clock, session, at_server, message_id, later):
    """Nothing went out; the job waits for `later`, runs then, and sends once."""
    assert later in scheduled_at()
    clock.move_to(later - dt.timedelta(seconds=1))
    run_jobs()
    assert _status(session, message_id) != "sent"
    clock.move_to(later)
    run_jobs()
    sweeper.sweep(older_than_seconds=0)  # a sweep in between or after adds nothing
    run_jobs()
    assert _status(session, message_id) == "sent"


@pytest.mark.parametrize("clock_at,allowed,later", EDGES)
def test_first_try(at_server, factory, session, clock_at, allowed, later):
    b = factory.borrower(language="en")
    now = local(DAY, clock_at)
    with time_machine.travel(now, tick=False) as clock:
        m = _reminder(session, b)
        run_jobs()
        if allowed:
            assert _status(session, m.id) == "sent" and len(at_server.sms) == 1
        else:
            assert _status(session, m.id) == "queued" and at_server.sms == []
            _then_sent_once_at(clock, session, at_server, m.id, later)
    assert len(at_server.sms) == 1


@pytest.mark.parametrize("clock_at,allowed,later", EDGES)
def test_retry_after_a_500(at_server, factory, session, monkeypatch, clock_at, allowed, later):
    """The first try at 19:58 (the evening before, for the morning edge) meets a 500; the retry lands on the edge."""
    now = local(DAY, clock_at)
    first = local(DAY if clock_at >= "12:00" else DAY - dt.timedelta(days=1), "19:58")
    monkeypatch.setenv("SMS_RETRY_BASE_SECONDS", str(int((now - first).total_seconds())))
    at_server.sms_replies = [{"http": 500}]
    b = factory.borrower(language="en")
    with time_machine.travel(first, tick=False) as clock:
        m = _reminder(session, b)
        run_jobs()
        assert _status(session, m.id) == "retrying" and len(at_server.sms) == 1
        assert scheduled_at() == [now]
        clock.move_to(now)
        run_jobs()
        if allowed:
            assert _status(session, m.id) == "sent" and len(at_server.sms) == 2
        else:
            assert _status(session, m.id) == "retrying" and len(at_server.sms) == 1
            _then_sent_once_at(clock, session, at_server, m.id, later)
            assert len(at_server.sms) == 2  # the 500, then once in the morning


@pytest.mark.parametrize("clock_at,allowed,later", EDGES)
def test_sweep_of_a_message_redis_never_saw(at_server, factory, session, clock_at, allowed, later):
    b = factory.borrower(language="en")
    now = local(DAY, clock_at)
    with time_machine.travel(now - dt.timedelta(minutes=5), tick=False) as clock:
        m = _reminder(session, b)
        Queue("default", connection=get_redis()).empty()  # its job was lost (Redis down at commit)
        clock.move_to(now)
        assert sweeper.sweep(older_than_seconds=60)["enqueued"] == 1
        run_jobs()
        if allowed:
            assert _status(session, m.id) == "sent" and len(at_server.sms) == 1
        else:
            assert _status(session, m.id) == "queued" and at_server.sms == []
            assert sweeper.sweep(older_than_seconds=60)["enqueued"] == 0  # waiting for the morning
            _then_sent_once_at(clock, session, at_server, m.id, later)
    assert len(at_server.sms) == 1


def test_transactional_messages_are_not_held(at_server, factory, session):
    b = factory.borrower(language="en")
    with time_machine.travel(local(DAY, "23:30"), tick=False):
        m = queue_sms(session, b, "balance_none", kind="transactional", lender="Jirani Finance",
                      help_line="0800 720 000")
        session.commit()
        run_jobs()
        assert _status(session, m.id) == "sent"


@pytest.mark.parametrize("clock_at,allowed,later", EDGES)
def test_welcome_call_placed_only_outside_quiet_hours(at_server, factory, session, clock_at, allowed, later):
    from gateway.workers.voice import place_call
    b = factory.borrower(language="en")
    loan = factory.loan(b)
    now = local(DAY, clock_at)
    with time_machine.travel(now, tick=False) as clock:
        call = VoiceCall(borrower_id=b.id, loan_id=loan.id, purpose="welcome", attempt=1,
                         dedupe_key=f"welcome:{loan.id}:1:1", call_at=now - dt.timedelta(hours=1))
        session.add(call)
        session.commit()
        status = place_call(call.id)
        assert (status != "postponed") == allowed
        if not allowed:
            assert at_server.calls == [] and later in scheduled_at()
            clock.move_to(later)
            run_jobs()
        session.expire_all()
        assert session.exec(select(VoiceCall.status).where(VoiceCall.id == call.id)).one() == CallStatus.queued
        session.commit()
    assert len(at_server.calls) == 1
