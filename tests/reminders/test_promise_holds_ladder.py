"""A promise to pay holds the reminder ladder until its date, at planning and at sending."""
import datetime as dt

import time_machine
from sqlmodel import select

from gateway.models import Reminder
from gateway.ops import promises
from gateway.workers.reminders import plan_reminders
from tests.helpers import at_local, read, run_jobs, sent, walk


def promise(session, loan, made_at, date, amount=300000):
    with time_machine.travel(made_at, tick=False):
        promises.make_promise(session, loan, date, amount, "ussd")
        session.commit()


def test_no_reminders_while_a_promise_is_open(at_server, factory, session):
    loan = factory.loan(factory.borrower(language="en"), principal="10000", count=4, first_due=dt.date(2026, 12, 1))
    walk(session, dt.date(2026, 12, 1), dt.date(2026, 12, 2))  # D0, D+1
    promise(session, loan, at_local(dt.date(2026, 12, 3), 9), dt.date(2026, 12, 9))
    walk(session, dt.date(2026, 12, 3), dt.date(2026, 12, 9))  # D+7 (Dec 8) falls inside the promise
    assert [(day, t) for day, t, _ in sent(session)] == [
        (dt.date(2026, 12, 1), "reminder_due_today"), (dt.date(2026, 12, 2), "reminder_overdue")]
    walk(session, dt.date(2026, 12, 10), dt.date(2026, 12, 31))  # promise date passed: the ladder goes on
    assert (dt.date(2026, 12, 31), "reminder_final") in [(day, t) for day, t, _ in sent(session)]


def test_promise_made_after_planning_skips_the_planned_reminder(at_server, factory, session):
    loan = factory.loan(factory.borrower(language="en"), principal="10000", count=4, first_due=dt.date(2026, 12, 1))
    with time_machine.travel(at_local(dt.date(2026, 11, 30), 22), tick=True):
        plan_reminders()  # D0 planned for 08:00 tomorrow
        run_jobs()
    promise(session, loan, at_local(dt.date(2026, 11, 30), 23), dt.date(2026, 12, 4))
    with time_machine.travel(at_local(dt.date(2026, 12, 1), 8, 1), tick=True):
        run_jobs()
    assert at_server.sms == []
    assert read(session, select(Reminder.step, Reminder.status)) == [("D0", "skipped_promise")]
