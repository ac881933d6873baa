"""Enqueue jobs only once the rows they work on are committed (the outbox rule).

Callers add work inside their transaction with `after_commit(session, jobs.SEND_SMS, id)`; the
jobs are enqueued when that transaction commits and dropped if it rolls back. If Redis is down at
that moment the rows are still stored, and the sweeper (gateway.workers.sweeper) enqueues them
later: the database, not the queue, is the record of what must happen.
"""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import event
from sqlmodel import Session

from gateway import jobs

log = logging.getLogger(__name__)
_KEY = "gateway_after_commit"


def after_commit(session: Session, job: jobs.Job, *args, at: dt.datetime | None = None) -> None:
    """`at`: run no earlier than this time (RQ's scheduler); else as soon as possible."""
    session.info.setdefault(_KEY, []).append((job, args, at))


@event.listens_for(Session, "after_commit")
def _enqueue(session: Session) -> None:
    for job, args, at in session.info.pop(_KEY, []):
        try:
            jobs.enqueue(job, *args, at=at)
        except Exception:  # the row is committed; the sweeper will enqueue it later
            log.exception("could not enqueue %s%r now; left for the sweeper", job.func, args)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_KEY, None)
