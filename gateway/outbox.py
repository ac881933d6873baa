"""Enqueue jobs only once the rows they work on are committed (the outbox rule).

Callers add work inside their transaction with `after_commit(session, "gateway.workers.x.job", id)`;
the jobs are enqueued when that transaction commits and dropped if it rolls back. If Redis is
down at that moment the rows are still stored, and the sweeper (gateway.workers.sweeper)
enqueues them later: the database, not the queue, is the record of what must happen.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re

from sqlalchemy import event
from sqlmodel import Session

from gateway.queue import get_queue

log = logging.getLogger(__name__)
_KEY = "gateway_after_commit"


def job_id(func: str, *args) -> str:
    """The same work always gets the same RQ job id, so the sweeper can tell whether it is already
    waiting in the queue: 'gateway.workers.sms.send_message', 42 -> 'send_message-42'."""
    text = "-".join([func.rsplit(".", 1)[-1], *map(str, args)])
    if re.fullmatch(r"[A-Za-z0-9_-]{1,120}", text):
        return text
    return func.rsplit(".", 1)[-1] + "-" + hashlib.sha1(repr((func, args)).encode()).hexdigest()


def after_commit(session: Session, func: str, *args, queue: str = "default", at: dt.datetime | None = None,
                 **options) -> None:
    """`at`: run no earlier than this time (RQ's scheduler, `enqueue_at`); else as soon as possible."""
    options.setdefault("job_id", job_id(func, *args))
    session.info.setdefault(_KEY, []).append((queue, func, args, at, options))


@event.listens_for(Session, "after_commit")
def _enqueue(session: Session) -> None:
    for queue, func, args, at, options in session.info.pop(_KEY, []):
        try:
            if at is None:
                get_queue(queue).enqueue(func, *args, **options)
            else:
                get_queue(queue).enqueue_at(at, func, *args, **options)
        except Exception:  # the row is committed; the sweeper will enqueue it later
            log.exception("could not enqueue %s%r now; left for the sweeper", func, args)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_KEY, None)
