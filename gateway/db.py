"""Database engine and sessions. SQLite file by default, PostgreSQL in production and CI."""
from __future__ import annotations

import datetime as dt
import select
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import DateTime, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, create_engine

from gateway.config import Settings

MAX_ID = 2**31 - 1  # ids are INTEGER columns (PostgreSQL's 4-byte integer)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, always returns an aware UTC datetime (SQLite and PostgreSQL alike)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=dt.UTC)


@lru_cache(maxsize=8)
def engine_for(url: str, immediate: bool = True) -> Engine:
    """`immediate=False` only for read-mostly tools (the tests' own session) on SQLite."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # our "begin" hook owns BEGIN (SQLAlchemy's pysqlite recipe)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # Take the write lock at BEGIN so concurrent writers queue instead of failing mid-way.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    engine = create_engine(url, pool_size=10, max_overflow=20)
    event.listen(engine, "checkout", _refuse_dead_connection)
    return engine


def _refuse_dead_connection(dbapi_conn, _record, _proxy) -> None:
    """Instead of `pool_pre_ping` (a `SELECT 1` round trip on every checkout: about a tenth of a
    USSD hop or a callback), look at the pooled connection locally: a server that restarted,
    terminated the backend or timed it out has closed the socket, which an idle connection then
    finds readable. The pool throws such a connection away and checks out another."""
    if dbapi_conn.closed or getattr(dbapi_conn, "broken", False):  # (psycopg 3; psycopg2 has no `broken`)
        raise DisconnectionError("connection closed")
    poller = select.poll()
    poller.register(dbapi_conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    if poller.poll(0):  # an idle connection has nothing to read unless the server went away
        raise DisconnectionError("the server closed the connection")


def get_engine(settings: Settings | None = None) -> Engine:
    return engine_for((settings or Settings.from_env()).database_url)


@contextmanager
def session_scope(settings: Settings | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with Session(get_engine(settings), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
