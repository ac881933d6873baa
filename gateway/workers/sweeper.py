"""The sweeper: the database is the record of what must happen, the queue only a fast path.

Rows stored but whose job never reached Redis (it was down at commit time) or was lost with it
are enqueued again: SMS still `queued`, payments still `received`, older than a grace period.
Failed raw callbacks are retried. Safe to run at any time and any number of times: work whose
job is already waiting or running (same deterministic job id as the outbox gives) is skipped,
and every job it enqueues is itself safe to run twice. A job left STARTED by a worker that was
killed (its "alive" key, gateway/workers/runner.py, is gone) counts as not running: within
seconds, not when RQ's own heartbeat for it runs out minutes later.

`final_answers` (also every minute) settles what waits for an answer that will not come: SMS
`sending` too long become `unknown`, welcome calls with no final callback time out, STK intents
with no callback are asked about (gateway/messaging/stuck.py, gateway/workers/payments.py).

Run it every minute: `gateway sweep` by hand, or `rq cron gateway.cron` (see gateway/cron.py).
"""
from __future__ import annotations

import datetime as dt
import logging

from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlmodel import select

from gateway import inbox, jobs
from gateway.config import Settings
from gateway.db import session_scope, utcnow
from gateway.messaging import stuck
from gateway.messaging.sending import MARKETING_KINDS
from gateway.models import Borrower, Message, MessageStatus, Payment, PaymentStatus
from gateway.providers.callbacks import PAYMENT_CALLBACKS
from gateway.queue import get_redis
from gateway.reminders import rules
from gateway.workers import payments, runner

log = logging.getLogger(__name__)
_WAITING = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}


def enqueue_once(settings: Settings, job: jobs.Job, *args, at: dt.datetime | None = None) -> bool:
    """Enqueue (with the job's own retry policy; `at`: no earlier) unless the same work is already
    waiting or running. True if enqueued."""
    redis = get_redis(settings)
    try:
        found = Job.fetch(job.id(*args), connection=redis)
        status = found.get_status(refresh=False)
        if status in _WAITING and not (status == JobStatus.STARTED and abandoned(redis, found)):
            return False
    except NoSuchJobError:
        pass
    jobs.enqueue(job, *args, settings=settings, at=at)
    return True


def abandoned(redis, job: Job) -> bool:
    """STARTED, but its worker is gone: no alive key, and the job began before the key's lifetime."""
    if job.started_at is None or (utcnow() - job.started_at.replace(tzinfo=dt.UTC)).total_seconds() \
            < runner.ALIVE_SECONDS:
        return False
    return not runner.worker_alive(redis, job.worker_name)


def stuck_work(settings: Settings, older_than: dt.timedelta) -> list[tuple[jobs.Job, int, dt.datetime | None]]:
    """(job, row id, not before): reminders and welcome messages found in the borrower's quiet
    hours are enqueued for the end of them (the send job checks again)."""
    now = utcnow()
    cutoff = now - older_than
    with session_scope(settings) as session:
        messages = session.exec(select(Message.id, Message.kind, Borrower.timezone)
                                .join(Borrower, Borrower.id == Message.borrower_id, isouter=True)
                                .where(Message.status.in_((MessageStatus.queued, MessageStatus.retrying)),
                                       Message.created_at <= cutoff)
                                .order_by(Message.id)).all()
        payments = session.exec(select(Payment.id).where(Payment.status == PaymentStatus.received,
                                                         Payment.received_at <= cutoff).order_by(Payment.id)).all()

    def not_before(kind, timezone):
        if kind not in MARKETING_KINDS or timezone is None:
            return None
        later = rules.next_allowed(now, timezone, settings)
        return later if later > now else None

    return ([(jobs.SEND_SMS, i, not_before(kind, tz)) for i, kind, tz in messages]
            + [(jobs.POST_PAYMENT, i, None) for i in payments])


def sweep(older_than_seconds: int = 60) -> dict:
    settings = Settings.from_env()
    found = stuck_work(settings, dt.timedelta(seconds=older_than_seconds))
    enqueued = sum(enqueue_once(settings, job, row_id, at=at) for job, row_id, at in found)
    retried = _retry_failed_callbacks(settings)
    if enqueued or retried:
        log.info("sweeper: %d stored items waiting, %d enqueued again, %d failed callbacks retried",
                 len(found), enqueued, retried)
    return {"waiting": len(found), "enqueued": enqueued, "callbacks_retried": retried}


def _retry_failed_callbacks(settings: Settings) -> int:
    with session_scope(settings) as session:
        failed = inbox.failed_ids(session)
    return sum(inbox.retry(settings, raw_id, PAYMENT_CALLBACKS) == "processed" for raw_id in failed)


def final_answers() -> dict:
    settings = Settings.from_env()
    with session_scope(settings) as session:
        unknown = stuck.mark_unknown(session, settings)
        calls = stuck.time_out_calls(session, settings)
    intents = payments.query_unanswered_intents(settings)
    if unknown or calls or any(intents.values()):
        log.info("final answers: %d SMS now unknown, %d calls timed out, STK intents %s", len(unknown), len(calls),
                 intents)
    return {"sms_unknown": len(unknown), "calls_timed_out": len(calls), "stk_intents": intents}
