"""The database engine: a pooled connection the server closed is replaced, not handed out."""
from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import text

from gateway.db import engine_for, session_scope


def _backend_pid(settings) -> int:
    with session_scope(settings) as session:
        return session.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_the_server_terminated_is_replaced_before_use(settings):
    if engine_for(settings.database_url).dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: a SQLite connection is a file, no server can close it")
    engine_for(settings.database_url).dispose()  # a pool of one connection: the one we terminate below
    pid = _backend_pid(settings)
    assert _backend_pid(settings) == pid  # the pool hands out the same connection again
    # As a database restart or an idle timeout would: the server ends that backend.
    dsn = settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as other:  # not from the pool: that one would be `pid` itself
        assert other.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
    time.sleep(0.5)  # the termination reaches the pooled socket

    with session_scope(settings) as session:  # no error: a fresh connection was checked out
        assert session.execute(text("SELECT 1")).scalar_one() == 1
        assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
