"""Enqueue jobs only once the rows they work on are committed (the outbox rule).

Callers add work inside their transaction with `after_commit(session, jobs.SEND_SMS, id)`; the
jobs are enqueued when that transaction commits and dropped if it rolls back. If Redis is down at
that moment the rows are still stored, and the sweeper (gateway.workers.sweeper) enqueues them
later: the database, not the queue, is the record of what must happen.
"""
from __future__ import annotations

import datetime as dt
import logging

from redis.exceptions import RedisError
from sqlalchemy import event
from sqlmodel import Session

from gateway import jobs
from gateway.config import Settings
from gateway.queue import get_redis

log = logging.getLogger(__name__)
_KEY = "gateway_after_commit"


def after_commit(session: Session, job: jobs.Job, *args, at: dt.datetime | None = None) -> None:
    """`at`: run no earlier than this time (RQ's scheduler); else as soon as possible."""
    session.info.setdefault(_KEY, []).append((job, args, at))


@event.listens_for(Session, "after_commit")
def _enqueue(session: Session) -> None:
    work = session.info.pop(_KEY, [])
    if not work:
        return
    # One Redis round trip for the whole transaction's jobs (RQ alone takes two per job).
    try:
        settings = Settings.from_env()
        with get_redis(settings).pipeline() as pipe:
            for job, args, at in work:
                jobs.enqueue(job, *args, settings=settings, at=at, pipeline=pipe)
            pipe.execute()
        return
    except RedisError:  # Redis unreachable: the rows are committed; the sweeper will enqueue them later
        log.exception("could not enqueue %d job(s) now; left for the sweeper", len(work))
        return
    except Exception:
        log.exception("could not enqueue %d job(s) at once; one by one", len(work))
    for job, args, at in work:
        try:
            jobs.enqueue(job, *args, at=at)
        except Exception:  # the row is committed; the sweeper will enqueue it later
            log.exception("could not enqueue %s%r now; left for the sweeper", job.func, args)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_KEY, None)
