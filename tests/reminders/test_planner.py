"""The reminder ladder: planned set-based, once per step, never at night, never to opted-out
borrowers, never for an installment paid meanwhile, at most one per borrower per local day."""
import datetime as dt

import time_machine
from sqlmodel import select

from gateway import ledger
from gateway.models import Reminder
from gateway.workers.reminders import plan_reminders
from tests.helpers import at_local, pay, read, run_jobs, scheduled_at, sent, walk


def test_business_loan_walks_its_whole_ladder(at_server, factory, session):
    b = factory.borrower(name="Amina Wanjiru", language="sw")
    loan = factory.loan(b, principal="10000", count=4, first_due=dt.date(2026, 12, 1))
    walk(session, dt.date(2026, 11, 25), dt.date(2027, 1, 2))
    got = [(day, template) for day, template, _ in sent(session)]
    assert got == [
        (dt.date(2026, 11, 28), "reminder_upcoming"),  # D-3 of installment 1
        (dt.date(2026, 12, 1), "reminder_due_today"),  # D0
        (dt.date(2026, 12, 2), "reminder_overdue"),  # D+1
        (dt.date(2026, 12, 8), "reminder_arrears"),  # D+7
        (dt.date(2026, 12, 29), "reminder_upcoming"),  # D-3 of installment 2
        (dt.date(2026, 12, 31), "reminder_final"),  # D+30 of installment 1
        (dt.date(2027, 1, 1), "reminder_due_today"),  # D0 of installment 2
        (dt.date(2027, 1, 2), "reminder_overdue"),
    ]
    texts = [text for _, _, text in sent(session)]
    assert texts[0] == (f"Jirani Finance: Habari Amina, Ksh 3,000 inadaiwa tarehe 1 Des 2026. Lipa kwa M-Pesa "
                        f"Paybill 600966, akaunti {loan.account_ref}. Asante!")
    assert texts[3] == (f"Jirani Finance: Amina, mkopo wako umechelewa siku 7: Ksh 3,000. Lipa kwa Paybill 600966, "
                        f"akaunti {loan.account_ref}, au piga 0800 720 000.")
    assert [m["to"] for m in at_server.sms] == [b.phone] * 8
    # every step is recorded once
    steps = read(session, select(Reminder.step).where(Reminder.loan_id == loan.id).order_by(Reminder.id))
    assert steps == ["D-3", "D0", "D+1", "D+7", "D-3", "D+30", "D0", "D+1"]


def test_duplicate_planner_runs_send_once(at_server, factory, session):
    b = factory.borrower(language="en")
    factory.loan(b, first_due=dt.date(2026, 12, 1))
    with time_machine.travel(at_local(dt.date(2026, 11, 28), 9), tick=True):
        assert plan_reminders() == 1
        assert plan_reminders() == 0
        run_jobs()
        assert plan_reminders() == 0
        run_jobs()
    assert [t for _, t, _ in sent(session)] == ["reminder_upcoming"]
    assert len(at_server.sms) == 1


def test_quiet_hours_follow_each_borrowers_timezone(at_server, factory, session):
    nairobi = factory.borrower(language="en")
    lagos = factory.borrower(language="en", country="NG", timezone="Africa/Lagos")
    factory.loan(nairobi, first_due=dt.date(2026, 12, 2))
    factory.loan(lagos, first_due=dt.date(2026, 12, 1))
    # 17:30 UTC: 20:30 in Nairobi (quiet), 18:30 in Lagos (allowed)
    with time_machine.travel(dt.datetime(2026, 11, 28, 17, 30, tzinfo=dt.UTC), tick=True):
        assert plan_reminders() == 2
        run_jobs()
        assert [m["to"] for m in at_server.sms] == [lagos.phone]
        assert scheduled_at() == [dt.datetime(2026, 11, 29, 5, 0, tzinfo=dt.UTC)]  # 08:00 in Nairobi
    with time_machine.travel(dt.datetime(2026, 11, 29, 4, 59, tzinfo=dt.UTC), tick=True):
        run_jobs()
        assert len(at_server.sms) == 1  # 07:59 in Nairobi: still waiting
    with time_machine.travel(dt.datetime(2026, 11, 29, 5, 0, 1, tzinfo=dt.UTC), tick=True):
        run_jobs()
    assert [m["to"] for m in at_server.sms] == [lagos.phone, nairobi.phone]
    rows = read(session, select(Reminder).order_by(Reminder.id))
    assert {(r.borrower_id, r.local_day) for r in rows} == {(lagos.id, dt.date(2026, 11, 28)),
                                                             (nairobi.id, dt.date(2026, 11, 29))}


def test_payment_between_planning_and_sending_cancels_the_reminder(at_server, factory, session):
    b = factory.borrower(language="en")
    loan = factory.loan(b, first_due=dt.date(2026, 12, 1))
    with time_machine.travel(at_local(dt.date(2026, 11, 30), 22), tick=True):
        plan_reminders()  # D0 planned for 08:00 tomorrow
        run_jobs()
    inst = ledger.installments(session, loan.id)[0]
    pay(session, loan, inst.amount_due, "RKL51ZDR4F")
    with time_machine.travel(at_local(dt.date(2026, 12, 1), 8, 1), tick=True):
        run_jobs()
        plan_reminders()  # the paid installment is not planned again
        run_jobs()
    assert at_server.sms == []
    assert read(session, select(Reminder.step, Reminder.status)) == [("D0", "skipped_paid")]


def test_opt_out_mid_ladder_stops_reminders_until_opt_in(at_server, factory, session, client):
    b = factory.borrower(language="sw")
    phone = b.phone
    factory.loan(b, first_due=dt.date(2026, 12, 1))
    walk(session, dt.date(2026, 11, 28), dt.date(2026, 11, 30))
    with time_machine.travel(at_local(dt.date(2026, 11, 30), 22), tick=True):
        plan_reminders()  # D0 planned for tomorrow 08:00, before the borrower opts out
        r = client.post("/sms/inbound", data={"from": b.phone, "to": "22384", "text": "acha", "id": "in-1",
                                              "date": "2026-11-30 19:00:00"})
        assert r.status_code == 200
        run_jobs()
    walk(session, dt.date(2026, 12, 1), dt.date(2026, 12, 8))
    assert [t for _, t, _ in sent(session)] == ["reminder_upcoming", "opted_out"]
    assert dict(read(session, select(Reminder.step, Reminder.status))) == {"D-3": "sent", "D0": "skipped_opted_out"}
    with time_machine.travel(at_local(dt.date(2026, 12, 9), 9), tick=True):
        client.post("/sms/inbound", data={"from": phone, "to": "22384", "text": "Anza", "id": "in-2"})
        run_jobs()
    walk(session, dt.date(2026, 12, 29), dt.date(2026, 12, 29))
    assert [t for _, t, _ in sent(session)] == ["reminder_upcoming", "opted_out", "opted_in", "reminder_upcoming"]


def test_one_reminder_per_borrower_per_day(at_server, factory, session):
    b = factory.borrower(language="en")
    first = factory.loan(b, first_due=dt.date(2026, 12, 1))
    second = factory.loan(b, first_due=dt.date(2026, 12, 1), product="solar home system", prefix="SOL",
                          frequency="weekly")
    walk(session, dt.date(2026, 11, 30), dt.date(2026, 12, 2))
    got = sent(session)
    assert [(d, t) for d, t, _ in got] == [
        (dt.date(2026, 11, 30), "reminder_upcoming"),  # the solar loan's D-1 (business D-3 was before)
        (dt.date(2026, 12, 1), "reminder_due_today"),
        (dt.date(2026, 12, 2), "reminder_overdue"),
    ]
    per_day = read(session, select(Reminder.local_day, Reminder.loan_id, Reminder.step).order_by(Reminder.id))
    assert len({day for day, _, _ in per_day}) == len(per_day)
    assert {loan for _, loan, _ in per_day} <= {first.id, second.id}


def test_reminders_lost_by_redis_are_enqueued_again(at_server, factory, session):
    from gateway.queue import get_redis

    b = factory.borrower(language="en")
    factory.loan(b, first_due=dt.date(2026, 12, 1))
    with time_machine.travel(at_local(dt.date(2026, 11, 27), 23), tick=True):
        assert plan_reminders() == 1  # for 08:00 tomorrow
    get_redis().flushdb()  # Redis lost its data overnight
    with time_machine.travel(at_local(dt.date(2026, 11, 28), 8, 45), tick=True):
        assert plan_reminders() == 0  # nothing new, but the stale planned reminder is enqueued again
        plan_reminders()  # and enqueueing it twice makes one job
        run_jobs()
    assert [(d, t) for d, t, _ in sent(session)] == [(dt.date(2026, 11, 28), "reminder_upcoming")]
    assert len(at_server.sms) == 1


def test_due_today_is_never_sent_late_other_steps_catch_up(at_server, factory, session):
    b = factory.borrower(language="en")
    factory.loan(b, first_due=dt.date(2026, 12, 1), product="solar home system", prefix="SOL", frequency="weekly")
    # the planner was down on Nov 30 and Dec 1: D-1 may not go out late (D0 has come), D0 is
    # only true on its day, so Dec 2 has nothing; D+2 goes out on Dec 3
    walk(session, dt.date(2026, 12, 2), dt.date(2026, 12, 3))
    assert [(d, t) for d, t, _ in sent(session)] == [(dt.date(2026, 12, 3), "reminder_overdue")]
