"""Repayment reminders: the planner (every 15 minutes, see gateway/cron.py) and the send rule.

The planner is set-based: one INSERT ... SELECT per borrower timezone picks every ladder step due
on the borrower's next allowed local day, one per borrower (the most overdue step wins), and the
Reminder table's unique keys make a re-run plan nothing new. Each planned reminder is enqueued
at the end of quiet hours (RQ's scheduler) under a fixed job id, so re-enqueueing is harmless.
`send` checks everything again when it runs: the installment may have been paid, the
loan closed or the borrower opted out since planning.
"""
from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, String, and_, case, func, literal, not_, or_, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from gateway import jobs, ledger
from gateway.config import Settings
from gateway.db import UTCDateTime, session_scope, utcnow
from gateway.i18n import Speaker
from gateway.messaging.compose import queue_sms
from gateway.messaging.context import borrower_vars
from gateway.models import (
    Borrower,
    Installment,
    InstallmentStatus,
    Loan,
    LoanStatus,
    Product,
    Promise,
    Reminder,
    ReminderStatus,
)
from gateway.ops import costs, promises
from gateway.queue import get_redis
from gateway.reminders import ladders, rules

log = logging.getLogger(__name__)
STALE_AFTER = dt.timedelta(minutes=30)  # planned but not sent this long after send_at: enqueue again
ENQUEUE_BATCH = 1000  # jobs per Redis round trip


def _steps_table(lad: ladders.Ladders, local_day: dt.date, grace: int):
    """The ladders as literal rows, each with the due dates for which that step is due on local_day
    (the default ladder's rows have ladder "")."""
    rows = []
    for name, steps in [*lad.named.items(), ("", lad.default)]:
        for s in steps:
            due_to = local_day - dt.timedelta(days=s.offset)
            due_from = due_to - dt.timedelta(days=grace if s.grace is None else s.grace)
            if s.next_offset is not None:  # not once the next step's day has come
                due_from = max(due_from, local_day - dt.timedelta(days=s.next_offset - 1))
            rows.append(select(literal(name, String).label("ladder"), literal(s.step, String).label("step"),
                               literal(s.template, String).label("template"),
                               literal(s.offset, Integer).label("offset_days"),
                               literal(due_from, Date).label("due_from"), literal(due_to, Date).label("due_to")))
    return union_all(*rows).cte("ladder"), tuple(lad.named)


def _plan_timezone(session: Session, timezone: str, now: dt.datetime, settings: Settings) -> None:
    send_at = rules.next_allowed(now, timezone, settings)
    local_day = send_at.astimezone(ZoneInfo(timezone)).date()
    steps, known = _steps_table(ladders.load(settings.reminder_ladders_file), local_day, settings.reminder_grace_days)
    # the loan's ladder is its product's (the lender's catalogue); no product, or a ladder the file does
    # not define: the default ladder
    ladder_of = case((Product.ladder.in_(known), Product.ladder), else_=literal("")) if known else literal("")
    already = select(Reminder.id).where(Reminder.loan_id == Loan.id, Reminder.installment_id == Installment.id,
                                        Reminder.step == steps.c.step).exists()
    # a promise to pay holds reminders until its date (gateway.ops.promises)
    promised = select(Promise.id).where(Promise.loan_id == Loan.id, Promise.status == "open",
                                        Promise.promised_date >= local_day).exists()
    rank = func.row_number().over(partition_by=Borrower.id,
                                  order_by=(steps.c.offset_days.desc(), Installment.due_date, Loan.id)).label("rank")
    candidates = (
        select(Loan.id.label("loan_id"), Installment.id.label("installment_id"), Borrower.id.label("borrower_id"),
               steps.c.step, steps.c.template, rank)
        .select_from(Installment)
        .join(Loan, Loan.id == Installment.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .outerjoin(Product, and_(Product.field_partner_id == Borrower.field_partner_id, Product.code == Loan.product))
        .join(steps, and_(Installment.due_date >= steps.c.due_from, Installment.due_date <= steps.c.due_to,
                          steps.c.ladder == ladder_of))
        .where(Borrower.timezone == timezone, Borrower.opted_out == False,  # noqa: E712
               Loan.status == LoanStatus.active, Installment.status != InstallmentStatus.paid, not_(already),
               not_(promised), not_(costs.stopped()))
    ).subquery("candidates")
    chosen = select(candidates.c.loan_id, candidates.c.installment_id, candidates.c.borrower_id, candidates.c.step,
                    candidates.c.template, literal(local_day, Date), literal(send_at, UTCDateTime),
                    literal(ReminderStatus.planned.value, String), literal(now, UTCDateTime)
                    ).where(candidates.c.rank == 1)
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(Reminder).from_select(
        ["loan_id", "installment_id", "borrower_id", "step", "template", "local_day", "send_at", "status",
         "created_at"], chosen).on_conflict_do_nothing()
    session.execute(stmt)


def plan(settings: Settings) -> int:
    """Plan every reminder that is due; returns how many were planned."""
    now = utcnow()
    with session_scope(settings) as session:
        costs.review(session, settings)  # cost against recovery: stopped loans get no reminders
        timezones = session.execute(select(Borrower.timezone).distinct()).scalars().all()
        for timezone in timezones:
            _plan_timezone(session, timezone, now, settings)
    with session_scope(settings) as session:
        # this run's rows (created_at is the run's timestamp), and stale ones the queue lost
        to_enqueue = session.execute(select(Reminder.id, Reminder.send_at, Reminder.created_at).where(
            Reminder.status == ReminderStatus.planned,
            or_(Reminder.created_at == now, Reminder.send_at < now - STALE_AFTER))).all()
    planned = sum(created_at == now for _, _, created_at in to_enqueue)
    redis = get_redis(settings)
    for start in range(0, len(to_enqueue), ENQUEUE_BATCH):
        with redis.pipeline() as pipe:
            for reminder_id, send_at, _ in to_enqueue[start:start + ENQUEUE_BATCH]:
                # A fixed job id: enqueueing a stale reminder again replaces its job instead of adding one.
                jobs.enqueue(jobs.SEND_REMINDER, reminder_id, settings=settings, at=send_at, pipeline=pipe)
            pipe.execute()
    log.info("planned %s reminders, enqueued %s", planned, len(to_enqueue))
    return planned


def send(settings: Settings, reminder_id: int) -> str:
    """Send one planned reminder, if it is still due: the installment may have been paid, the loan
    closed or the borrower opted out since planning; in quiet hours it waits for the morning."""
    with session_scope(settings) as session:
        reminder = session.execute(select(Reminder).where(Reminder.id == reminder_id)
                                   .with_for_update()).scalars().first()
        if reminder is None or reminder.status != ReminderStatus.planned:
            return reminder.status if reminder else "missing"
        installment = session.get(Installment, reminder.installment_id)
        loan = session.get(Loan, reminder.loan_id)
        borrower = session.get(Borrower, reminder.borrower_id)
        now = utcnow()
        if loan.status != LoanStatus.active:
            reminder.status = ReminderStatus.skipped_closed
        elif installment.status == InstallmentStatus.paid or installment.outstanding <= 0:
            reminder.status = ReminderStatus.skipped_paid
        elif borrower.opted_out:
            reminder.status = ReminderStatus.skipped_opted_out
        elif promises.has_open_promise(session, loan.id, Speaker.for_borrower(borrower).today(now)):
            reminder.status = ReminderStatus.skipped_promise  # promised after this was planned
        elif costs.check(session, settings, loan):
            reminder.status = ReminderStatus.skipped_pursuit  # it costs more than it is expected to recover
        elif rules.next_allowed(now, borrower.timezone, settings) > now:
            # The job ran late, into the night: wait for the morning.
            jobs.postpone(jobs.SEND_REMINDER, reminder_id, settings=settings,
                          at=rules.next_allowed(now, borrower.timezone, settings))
            return "postponed"
        else:
            today = Speaker.for_borrower(borrower).today(now)
            bal = ledger.balance(session, loan, today)
            message = queue_sms(session, borrower, reminder.template, kind="reminder",
                                dedupe_key=f"reminder:{reminder.id}", amount=installment.outstanding,
                                currency=loan.currency, due_date=installment.due_date, account_ref=loan.account_ref,
                                arrears=bal.arrears, days_late=bal.days_late(today),  # the loan's, not the step's
                                **borrower_vars(session, borrower))
            reminder.status, reminder.message_id = ReminderStatus.sent, message.id
        session.add(reminder)
        return reminder.status
