"""The inbox: what providers send us is stored before it is answered, once.

- `insert_once`: INSERT ... ON CONFLICT DO NOTHING. The database, not a check in code, decides
  whether this is the first time we see a row (concurrent duplicates included).
- `receive`: one payment callback, stored as a `RawCallback` in the same transaction as what it
  caused, committed, then answered. A handler turns the provider's wire format into domain calls
  (gateway/providers/); the inbox only knows "processed", "rejected" and "failed".
- `retry`: the sweeper processes again what failed (bounded by RAW_RETRY_LIMIT).
- `read_form`, `reject_form`: an Africa's Talking form callback we could not accept, kept for review.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import String, bindparam, cast, func, literal, union_all
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, select

from gateway import audit
from gateway.config import Settings
from gateway.db import session_scope, utcnow
from gateway.models import AuditEvent, CallbackStatus, RawCallback, RejectedCallback

log = logging.getLogger(__name__)

RAW_RETRY_LIMIT = 10
MAX_BODY_CHARS = 64_000  # real callbacks are under 2 KB; anything huge is kept (truncated) for review


class CallbackRejected(Exception):
    """A callback we will not process: answered with `status` and `body`, stored as rejected."""

    def __init__(self, status: int, error: str, detail: str, body: dict | None = None):
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.body = body or {"error": error, "detail": detail}


class CallbackError(ValueError):
    """A form callback (SMS reports, inbound SMS, voice) is malformed: answered 400, kept for review."""


@dataclass(frozen=True)
class Handler:
    """How one kind of callback is processed: `process(session, raw, settings)` returns the reply
    body; `ack` is the reply when processing fails after the callback was stored."""

    process: Callable[[Session, RawCallback, Settings], dict]
    ack: dict


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict


def insert_once(session: Session, row, lock_key: str | None = None) -> bool:
    """Insert `row` unless a unique key says we have it already; True (and `row` attached, with
    its id) the first time. `lock_key`: on PostgreSQL, the transaction's advisory lock on this key
    (see payments.reversals.lock_receipt) is taken first, by the same statement (one round trip
    instead of two; SQLite writes one transaction at a time anyway)."""
    dialect = session.get_bind().dialect.name
    values = row.model_dump(exclude={"id"})
    locked = lock_key is not None and dialect == "postgresql"
    stmt = _insert_once_statement(dialect, type(row).__table__, tuple(values), locked)
    params = {f"v_{k}": v for k, v in values.items()}
    if locked:
        params["lock_key"] = lock_key
    new_id = session.execute(stmt, params).scalar_one_or_none()
    if new_id is None:
        return False
    # Inserted just now with exactly these values: no need to read it back.
    row.id = new_id
    make_transient_to_detached(row)
    session.add(row)
    return True


def advisory_lock(key):
    """PostgreSQL: the transaction-scoped advisory lock on a text key (a SQL expression)."""
    return func.pg_advisory_xact_lock(func.hashtextextended(key, 0))


@lru_cache(maxsize=64)
def _insert_once_statement(dialect: str, table, columns: tuple[str, ...], locked: bool):
    """Built once per table (building and cache-keying a statement costs as much CPU as running it)."""
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    params = [bindparam(f"v_{c}", type_=table.c[c].type) for c in columns]
    if locked:
        # A CTE with a volatile function runs once, before the row it gates is produced.
        lock = sa_select(advisory_lock(bindparam("lock_key", type_=String)).label("locked")).cte("locked")
        stmt = insert(table).from_select(list(columns), sa_select(*params).select_from(lock))
    else:
        stmt = insert(table).values(dict(zip(columns, params, strict=True)))
    return stmt.on_conflict_do_nothing().returning(table.c.id)


_AUDIT_COLUMNS = ("at", "actor", "action", "entity", "entity_id", "data")


def store_processed(session: Session, raw: RawCallback, actor: str, **data) -> None:
    """The processed callback and its `callback.processed` audit row. On PostgreSQL in ONE
    statement (a data-modifying CTE), together with the audit rows the handler left pending
    (`payment.received` ...): one round trip where the ORM's unit of work takes three."""
    if session.get_bind().dialect.name != "postgresql":
        session.add(raw)
        session.flush()
        audit.record(session, actor, "callback.processed", "raw_callback", raw.id, **data)
        return
    if raw in session:
        session.expunge(raw)
    # in the order they were recorded (ids follow it), the callback's own row last
    pending = sorted((r for r in session.new if isinstance(r, AuditEvent)), key=lambda r: sa_inspect(r).insert_order)
    event = AuditEvent(actor=actor, action="callback.processed", entity="raw_callback", entity_id="", data=data)
    params = {f"raw_{k}": v for k, v in raw.model_dump(exclude={"id"}).items()}
    for prefix, row in [*((f"a{n}", r) for n, r in enumerate(pending)), ("cb", event)]:
        params.update({f"{prefix}_{c}": getattr(row, c) for c in _AUDIT_COLUMNS})
    for r in pending:
        session.expunge(r)
    returned = session.connection().execute(_processed_statement(len(pending)), params).all()
    raw.id = int(next(entity_id for entity_id, action in reversed(returned) if action == event.action))


@lru_cache(maxsize=16)
def _processed_statement(pending: int):
    """INSERT the raw callback (CTE `stored`), then `pending` audit rows and the callback's own,
    whose entity_id is the new raw callback's id; built once per number of pending rows."""
    raws, audits = RawCallback.__table__, AuditEvent.__table__
    raw_columns = [c.name for c in raws.columns if c.name != "id"]
    stored = (postgresql.insert(raws).values({c: bindparam(f"raw_{c}", type_=raws.c[c].type) for c in raw_columns})
              .returning(raws.c.id).cte("stored"))

    def row(prefix: str, order: int, entity_id=None):
        cols = [bindparam(f"{prefix}_{c}", type_=audits.c[c].type) for c in _AUDIT_COLUMNS]
        if entity_id is not None:
            cols[4] = entity_id
        return sa_select(*cols, literal(order).label("n"))

    rows = [row(f"a{n}", n) for n in range(pending)]
    rows.append(row("cb", pending, cast(stored.c.id, String)).select_from(stored))
    source = union_all(*rows).subquery("audit_rows")
    ordered = sa_select(*(source.c[k] for k in source.c.keys()[:-1])).order_by(source.c.n)
    return (postgresql.insert(audits).from_select(list(_AUDIT_COLUMNS), ordered)
            .add_cte(stored).returning(audits.c.entity_id, audits.c.action))


def _store(settings: Settings, provider: str, kind: str, source_ip: str, body: str, status: str, error: str) -> None:
    body = _visible(body)  # PostgreSQL text cannot hold NUL: kept with each NUL written out as "\x00"
    with session_scope(settings) as session:
        raw = RawCallback(provider=provider, kind=kind, source_ip=source_ip[:64], body=body, status=status,
                          error=error[:500], processed_at=utcnow() if status == CallbackStatus.rejected else None)
        session.add(raw)
        session.flush()
        audit.record(session, provider, f"callback.{status}", "raw_callback", raw.id, kind=kind, error=error[:200])


def receive(settings: Settings, provider: str, kind: str, handler: Handler, body: str, source_ip: str,
            refused: str | None) -> Reply:
    """Store and process one callback (`refused`: why it is not authentic, if it is not); the reply
    is given only after the commit."""
    try:
        if refused:
            log.warning("refused %s %s callback from %s: %s", provider, kind, source_ip, refused)
            _store(settings, provider, kind, source_ip, body[:MAX_BODY_CHARS], CallbackStatus.rejected,
                   f"forbidden: {refused}")
            return Reply(403, {"error": "forbidden", "detail": refused})
        if len(body) > MAX_BODY_CHARS:
            detail = f"body longer than {MAX_BODY_CHARS} characters"
            _store(settings, provider, kind, source_ip, body[:MAX_BODY_CHARS], CallbackStatus.rejected, detail)
            return Reply(413, {"error": "too_large", "detail": detail})
        if "\x00" in body:  # never valid JSON or form data from a provider
            detail = "body contains NUL characters"
            _store(settings, provider, kind, source_ip, body, CallbackStatus.rejected, detail)
            return Reply(400, {"error": "bad_request", "detail": detail})
        try:
            with session_scope(settings) as session:
                # Stored once, already processed, in the same transaction as what it caused (a
                # handler that fails rolls that back, and the callback is stored as failed below).
                raw = RawCallback(provider=provider, kind=kind, source_ip=source_ip[:64], body=body)
                reply = handler.process(session, raw, settings)
                raw.status, raw.processed_at = CallbackStatus.processed, utcnow()
                store_processed(session, raw, provider, kind=kind, payment_id=raw.payment_id, note=raw.error[:200])
            return Reply(200, reply)
        except CallbackRejected as exc:
            log.info("rejected %s %s callback: %s", provider, kind, exc.detail)
            _store(settings, provider, kind, source_ip, body, CallbackStatus.rejected, exc.detail)
            return Reply(exc.status, exc.body)
        except Exception as exc:  # a bug: kept, retried by the sweeper (RAW_RETRY_LIMIT times)
            log.exception("could not process %s %s callback; storing it for retry", provider, kind)
            _store(settings, provider, kind, source_ip, body, CallbackStatus.failed, f"{type(exc).__name__}: {exc}")
            return Reply(200, handler.ack)
    except (SQLAlchemyError, OSError):
        # The database is unreachable: nothing is stored, so ask the provider to retry.
        log.exception("could not store %s %s callback", provider, kind)
        return Reply(503, {"error": "unavailable", "detail": "could not store the callback; retry later"})


def retry(settings: Settings, raw_id: int, handlers: dict[tuple[str, str], Handler]) -> str:
    """Process a stored callback whose processing failed before (the sweeper calls this)."""
    try:
        with session_scope(settings) as session:
            raw = session.exec(select(RawCallback).where(RawCallback.id == raw_id).with_for_update()).one_or_none()
            if raw is None or raw.status != CallbackStatus.failed:
                return "nothing to do"
            raw.error = ""
            handlers[(raw.provider, raw.kind)].process(session, raw, settings)
            raw.status, raw.processed_at, raw.attempts = CallbackStatus.processed, utcnow(), raw.attempts + 1
            session.add(raw)
            audit.record(session, "system", "callback.retried", "raw_callback", raw.id, payment_id=raw.payment_id)
        return "processed"
    except Exception as exc:
        with session_scope(settings) as session:
            raw = session.get(RawCallback, raw_id)
            raw.attempts += 1
            raw.error = f"{type(exc).__name__}: {exc}"[:500]
            if isinstance(exc, CallbackRejected):
                raw.status = CallbackStatus.rejected
            session.add(raw)
        return "failed"


def failed_ids(session: Session) -> list[int]:
    return list(session.exec(select(RawCallback.id).where(RawCallback.status == CallbackStatus.failed,
                                                          RawCallback.attempts < RAW_RETRY_LIMIT)
                             .order_by(RawCallback.id)))


def for_review(session: Session, status: str, limit: int = 100) -> list[RawCallback]:
    return list(session.exec(select(RawCallback).where(RawCallback.status == status)
                             .order_by(RawCallback.id.desc()).limit(limit)))


def read_form(form: dict) -> dict:
    """An Africa's Talking form callback's fields, refused (CallbackError: 400, kept) if they hold
    NUL characters, which no provider sends and PostgreSQL text cannot store."""
    if any("\x00" in key or "\x00" in value for key, value in form.items()):
        raise CallbackError("form contains NUL characters")
    return form


def _visible(text: str) -> str:
    return text.replace("\x00", "\\x00")


def reject_form(session: Session, source: str, reason: str, payload: dict) -> RejectedCallback:
    """A form callback (SMS reports, inbound SMS, voice) we could not accept, kept for review
    (NULs written out as in `_store`)."""
    payload = {_visible(str(k)): _visible(v) if isinstance(v, str) else v for k, v in payload.items()}
    row = RejectedCallback(source=source, reason=reason[:200], payload=payload)
    session.add(row)
    audit.record(session, "africastalking", "callback.rejected", "callback", source, reason=reason[:200])
    return row
