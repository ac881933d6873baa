"""Each job is declared once (gateway/jobs.py) and every path that enqueues it uses that
declaration: the outbox after a commit, and the sweeper for work the queue lost."""
import datetime as dt
import importlib

import pytest
from rq import Queue
from rq.job import Job

from gateway import jobs, outbox
from gateway.messaging import queue_sms
from gateway.queue import get_redis
from gateway.workers import sweeper

DECLARED = [jobs.POST_PAYMENT, jobs.START_STK_PUSH, jobs.SEND_SMS, jobs.SEND_REMINDER, jobs.PLACE_CALL]


@pytest.mark.parametrize("job", DECLARED, ids=lambda j: j.func.rsplit(".", 1)[-1])
def test_every_declared_job_exists_and_is_served(job):
    module, name = job.func.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), name))
    from gateway.queue import QUEUES
    assert job.queue in QUEUES


def test_an_sms_swept_back_into_the_queue_keeps_its_retry_policy(settings, session, factory):
    borrower = factory.borrower()
    message = queue_sms(session, borrower, "opted_in", kind="reply", lender="Jirani", name="Amina")
    session.info.pop("gateway_after_commit")  # as if Redis had been down at commit: nothing enqueued
    session.commit()
    assert Queue("default", connection=get_redis()).count == 0

    assert sweeper.sweep(older_than_seconds=0)["enqueued"] == 1
    job = Job.fetch(jobs.SEND_SMS.id(message.id), connection=get_redis())
    assert job.func_name == jobs.SEND_SMS.func
    # the same policy as the first try: SMS_MAX_RETRIES retries, backoff doubling from the base
    assert job.retries_left == settings.sms_max_retries == 4
    assert job.retry_intervals == [60, 120, 240, 480]


def test_the_outbox_enqueues_with_the_declared_policy(settings, session, factory):
    loan = factory.loan(factory.borrower())
    from gateway.models import PaymentIntent
    intent = PaymentIntent(loan_id=loan.id, amount=100, currency="KES", phone="+254712000001")
    session.add(intent)
    session.flush()
    outbox.after_commit(session, jobs.START_STK_PUSH, intent.id)
    session.commit()
    job = Job.fetch(jobs.START_STK_PUSH.id(intent.id), connection=get_redis())
    assert job.origin == "payments"
    assert (job.retries_left, job.retry_intervals) == (2, [5, 10])


def test_an_sms_whose_retry_was_lost_with_redis_is_swept_back_once(settings, session, factory):
    """A message waiting for its retry (`retrying`) whose scheduled job Redis lost is enqueued again,
    with its policy; one whose retry is still scheduled is left alone."""
    borrower = factory.borrower()
    lost = queue_sms(session, borrower, "opted_in", kind="reply", lender="Jirani", name="Amina")
    waiting = queue_sms(session, borrower, "opted_out", kind="reply", lender="Jirani", name="Amina")
    session.info.pop("gateway_after_commit")
    lost.status = waiting.status = "retrying"
    session.commit()
    jobs.enqueue(jobs.SEND_SMS, waiting.id, settings=settings, at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2))
    assert sweeper.sweep(older_than_seconds=0)["enqueued"] == 1
    assert [j.args[0] for j in Queue("default", connection=get_redis()).jobs] == [lost.id]
    assert Job.fetch(jobs.SEND_SMS.id(lost.id), connection=get_redis()).retries_left == settings.sms_max_retries
    assert sweeper.sweep(older_than_seconds=0)["enqueued"] == 0
