"""Every background job, declared once: the function that runs it (in gateway/workers/), its
queue, its retry policy and its id. The outbox, the sweeper, the planners and the jobs themselves
enqueue through `enqueue`, so a job's policy is the same on every path (first try, retry, sweep).

Job ids are deterministic ('send_message-42'): the sweeper can tell whether the same work is
already waiting, and enqueueing it twice replaces instead of adding."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from rq import Retry

from gateway.config import Settings
from gateway.queue import get_queue


def _backoff(retries: int, base: int) -> Retry | None:
    return Retry(max=retries, interval=[base * 2 ** k for k in range(retries)]) if retries > 0 else None


@dataclass(frozen=True)
class Job:
    func: str  # dotted path of the RQ job function
    queue: str = "default"
    retry: Callable[[Settings], Retry | None] = lambda settings: None
    prefix: str = ""  # of the job id; default: the function's name

    def id(self, *args) -> str:
        text = "-".join([self.prefix or self.func.rsplit(".", 1)[-1], *map(str, args)])
        if re.fullmatch(r"[A-Za-z0-9_-]{1,120}", text):
            return text
        return self.func.rsplit(".", 1)[-1] + "-" + hashlib.sha1(repr((self.func, args)).encode()).hexdigest()


# Money before messages: a worker serves "payments" first (gateway.queue.QUEUES).
POST_PAYMENT = Job("gateway.workers.payments.post_payment", queue="payments")
# Retried only while the push has not reached the phone (OAuth failed); see workers/payments.py.
START_STK_PUSH = Job("gateway.workers.payments.start_stk_push", queue="payments",
                     retry=lambda s: _backoff(s.mpesa_push_retries, s.mpesa_retry_base_seconds))
SEND_SMS = Job("gateway.workers.sms.send_message",
               retry=lambda s: _backoff(s.sms_max_retries, s.sms_retry_base_seconds))
SEND_REMINDER = Job("gateway.workers.reminders.send_reminder", prefix="reminder")
PLACE_CALL = Job("gateway.workers.voice.place_call")
# Args (notification id, attempt). HTTP failures are rescheduled by the job itself (backoff from
# NOTIFY_RETRY_BASE_SECONDS or Slack's Retry-After, at most NOTIFY_MAX_ATTEMPTS); this policy only
# covers the job crashing (database unreachable...), bounded too.
DELIVER_NOTIFICATION = Job("gateway.workers.notify.deliver_notification", prefix="notify",
                           retry=lambda s: _backoff(2, s.notify_retry_base_seconds))


def enqueue(job: Job, *args, settings: Settings | None = None, at: dt.datetime | None = None, pipeline=None,
            job_id: str | None = None):
    """Enqueue `job` with its queue, id and retry policy; `at`: no earlier than this (RQ's scheduler)."""
    settings = settings or Settings.from_env()
    queue = get_queue(job.queue, settings)
    options = dict(job_id=job_id or job.id(*args), retry=job.retry(settings), pipeline=pipeline)
    if at is None:
        return queue.enqueue(job.func, *args, **options)
    return queue.enqueue_at(at, job.func, *args, **options)


def postpone(job: Job, *args, settings: Settings, at: dt.datetime):
    """From inside a running job: run it again at `at` (quiet hours). The running job keeps its id
    until RQ records its result (and expires it), so the later run gets an id of its own, fixed
    by `at`: every path that postpones the same work to the same time replaces one job."""
    return enqueue(job, *args, settings=settings, at=at, job_id=f"{job.id(*args)}-at-{int(at.timestamp())}")
