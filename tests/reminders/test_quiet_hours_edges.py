"""Quiet hours (20:00-08:00 borrower time) at their edges: a reminder planned after midnight goes
out at 08:00 the same morning (not a day later), one planned at exactly 20:00 waits for 08:00,
one planned at exactly 08:00 goes now."""
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlmodel import Session, select

from gateway.config import Settings
from gateway.models import Message, Reminder
from gateway.reminders import rules
from gateway.workers.reminders import plan_reminders
from tests.helpers import run_jobs, scheduled_at

NAIROBI = ZoneInfo("Africa/Nairobi")
UTC = dt.UTC
DAY = dt.date(2026, 11, 28)  # D-3 of an installment due on 1 December: a reminder is due that day


def local(day: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=NAIROBI)


def read(session, stmt):
    with Session(session.get_bind(), expire_on_commit=False) as fresh:
        return fresh.exec(stmt).all()


@pytest.mark.parametrize("now, allowed", [
    (local(DAY, 0, 0), local(DAY, 8)),  # midnight: this morning's 08:00
    (local(DAY, 0, 1), local(DAY, 8)),
    (local(DAY, 2, 0), local(DAY, 8)),  # 02:00: six hours, not thirty
    (local(DAY, 7, 59, 59), local(DAY, 8)),
    (local(DAY, 8, 0), local(DAY, 8)),  # 08:00 sharp: allowed
    (local(DAY, 12, 0), local(DAY, 12)),
    (local(DAY, 19, 59, 59), local(DAY, 19, 59, 59)),  # the last allowed second
    (local(DAY, 20, 0), local(DAY + dt.timedelta(days=1), 8)),  # 20:00 sharp: quiet until tomorrow 08:00
    (local(DAY, 23, 59), local(DAY + dt.timedelta(days=1), 8)),
])
def test_next_allowed_at_each_edge(now, allowed):
    settings = Settings()
    got = rules.next_allowed(now.astimezone(UTC), "Africa/Nairobi", settings)
    assert got == allowed.astimezone(UTC) and got.tzinfo is not None
    assert rules.in_quiet_hours(now, settings) == (allowed != now)


@pytest.mark.parametrize("hour, minute", [(0, 0), (0, 30), (2, 0), (5, 15), (7, 59)])
def test_reminder_planned_after_midnight_goes_out_at_eight_the_same_morning(at_server, factory, session, hour,
                                                                              minute):
    b = factory.borrower(language="en")
    factory.loan(b, first_due=dt.date(2026, 12, 1))
    with time_machine.travel(local(DAY, hour, minute), tick=False):
        assert plan_reminders() == 1
        run_jobs()
        assert at_server.sms == [] and scheduled_at() == [local(DAY, 8).astimezone(UTC)]
    (reminder,) = read(session, select(Reminder))
    assert (reminder.local_day, reminder.step) == (DAY, "D-3")  # planned for today, not tomorrow
    with time_machine.travel(local(DAY, 7, 59, 59), tick=False):
        run_jobs()
        assert at_server.sms == []
    with time_machine.travel(local(DAY, 8), tick=False):
        run_jobs()
    assert [m["to"] for m in at_server.sms] == [b.phone]
    (message,) = read(session, select(Message))
    assert message.sent_at.astimezone(NAIROBI) == local(DAY, 8) and message.template == "reminder_upcoming"


def test_reminder_planned_at_eight_sharp_goes_now(at_server, factory, session):
    b = factory.borrower(language="en")
    factory.loan(b, first_due=dt.date(2026, 12, 1))
    with time_machine.travel(local(DAY, 8), tick=False):
        assert plan_reminders() == 1
        run_jobs()
        assert scheduled_at() == []
    assert [m["to"] for m in at_server.sms] == [b.phone]
    (reminder,) = read(session, select(Reminder))
    assert (reminder.local_day, reminder.send_at.astimezone(NAIROBI)) == (DAY, local(DAY, 8))


def test_reminder_planned_at_twenty_sharp_waits_for_the_morning(at_server, factory, session):
    b = factory.borrower(language="en")
    factory.loan(b, first_due=dt.date(2026, 12, 2))  # D-3 tomorrow: planned tonight for tomorrow 08:00
    tomorrow = DAY + dt.timedelta(days=1)
    with time_machine.travel(local(DAY, 20), tick=False):
        assert plan_reminders() == 1
        run_jobs()
        assert at_server.sms == [] and scheduled_at() == [local(tomorrow, 8).astimezone(UTC)]
    (reminder,) = read(session, select(Reminder))
    assert (reminder.local_day, reminder.send_at.astimezone(NAIROBI)) == (tomorrow, local(tomorrow, 8))
    with time_machine.travel(local(tomorrow, 8), tick=False):
        run_jobs()
    assert [m["to"] for m in at_server.sms] == [b.phone]


def test_reminder_job_running_late_into_twenty_sharp_waits_for_the_morning(at_server, factory, session):
    b = factory.borrower(language="en")
    factory.loan(b, first_due=dt.date(2026, 12, 1))
    with time_machine.travel(local(DAY, 19, 59), tick=False):
        assert plan_reminders() == 1  # due now, but the worker only gets to it at 20:00
    with time_machine.travel(local(DAY, 20), tick=False):
        run_jobs()
        assert at_server.sms == []
        assert scheduled_at() == [local(DAY + dt.timedelta(days=1), 8).astimezone(UTC)]
    with time_machine.travel(local(DAY + dt.timedelta(days=1), 8), tick=False):
        run_jobs()
    assert [m["to"] for m in at_server.sms] == [b.phone]
