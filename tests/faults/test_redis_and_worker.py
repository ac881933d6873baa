"""Faults: Redis down while callbacks arrive, and a worker killed in the middle of a job.
The database is the record: nothing acknowledged is lost, nothing is posted twice."""
import contextlib
import os
import platform
import signal
import subprocess
import sys
import time

import pytest
from rq import Queue, SimpleWorker
from rq.job import Job
from sqlalchemy import text
from sqlmodel import func, select

from gateway import jobs
from gateway.app import create_app
from gateway.db import engine_for
from gateway.models import LedgerEntry, Message, Payment
from gateway.queue import get_redis
from gateway.workers import sweeper
from tests.helpers import c2b

DEAD_REDIS = "redis://127.0.0.1:1/0"
TOKEN = {"X-Callback-Token": "tok"}


@pytest.fixture
def loans(factory):
    out = []
    for k in range(3):
        b = factory.borrower(f"Borrower {k}", f"+25471100000{k}", language="en")
        out.append(factory.loan(b, principal="100000", count=10))
    return out


def ledger_total(session):
    session.rollback()  # a fresh snapshot: the workers committed meanwhile
    return session.exec(select(func.coalesce(func.sum(LedgerEntry.amount), 0))).one()


def test_callbacks_while_redis_is_down_are_stored_acknowledged_and_posted_once_it_is_back(
        settings, session, loans, monkeypatch, redis_url):
    monkeypatch.setenv("REDIS_URL", DEAD_REDIS)  # what every process would read while Redis is down
    client = create_app(settings.with_(redis_url=DEAD_REDIS, mpesa_callback_token="tok")).test_client()
    sent = [c2b(f"RK{k:08d}", f"{100 + k}.00", loans[k % 3].account_ref) for k in range(12)]
    replies = [client.post("/payments/daraja/c2b/confirmation", json=body, headers=TOKEN) for body in sent + sent[:4]]
    assert [r.status_code for r in replies] == [200] * 16
    assert all(r.get_json()["ResultCode"] == 0 for r in replies)
    assert session.exec(select(func.count()).select_from(Payment).where(Payment.status == "received")).one() == 12
    assert ledger_total(session) == 0

    # Redis is back. The sweeper finds the stored work; a second sweep adds nothing.
    monkeypatch.setenv("REDIS_URL", redis_url)
    redis = get_redis()
    payments_q, default_q = Queue("payments", connection=redis), Queue("default", connection=redis)
    assert sweeper.sweep(older_than_seconds=0) == {"waiting": 12, "enqueued": 12, "callbacks_retried": 0}
    assert sweeper.sweep(older_than_seconds=0)["enqueued"] == 0
    assert payments_q.count == 12

    SimpleWorker([payments_q], connection=redis).work(burst=True)
    session.rollback()  # a fresh snapshot: the workers committed meanwhile
    payments = session.exec(select(Payment)).all()
    assert {p.status for p in payments} == {"posted"}
    assert ledger_total(session) == sum(p.amount for p in payments) == sum(10_000 + 100 * k for k in range(12))
    for p in payments:  # each payment allocated exactly once, in full
        allocated = session.exec(select(func.sum(LedgerEntry.amount)).where(LedgerEntry.payment_id == p.id)).one()
        assert allocated == p.amount

    # The receipts were stored as messages; their send jobs go to the queue once, however often we sweep.
    receipts = session.exec(select(Message).where(Message.template == "payment_receipt")).all()
    assert len(receipts) == 12
    sweeper.sweep(older_than_seconds=0)
    sweeper.sweep(older_than_seconds=0)
    assert sorted(j.args[0] for j in default_q.jobs) == sorted(m.id for m in receipts)
    assert payments_q.count == 0


def test_sweeper_leaves_recent_work_to_the_normal_path(settings, session, loans, monkeypatch, redis_url):
    client = create_app(settings.with_(mpesa_callback_token="tok")).test_client()
    client.post("/payments/daraja/c2b/confirmation", json=c2b("RKFRESH001", "500.00", loans[0].account_ref),
                headers=TOKEN)
    q = Queue("payments", connection=get_redis())
    assert q.count == 1  # enqueued by the outbox after commit
    assert sweeper.sweep(older_than_seconds=3600)["waiting"] == 0
    # already queued:
    assert sweeper.sweep(older_than_seconds=0) == {"waiting": 1, "enqueued": 0, "callbacks_retried": 0}
    assert q.count == 1


def _hold_loan_lock(database_url, loan_id):
    """Block any posting to this loan, as a long transaction would."""
    engine = engine_for(database_url, immediate=True)
    conn = engine.connect()
    tx = conn.begin()  # SQLite: BEGIN IMMEDIATE takes the write lock
    if engine.dialect.name == "postgresql":
        conn.execute(text("SELECT id FROM loan WHERE id = :id FOR UPDATE"), {"id": loan_id})
    return conn, tx


# nanosleep, clock_nanosleep: how SQLite's busy handler waits between tries for a lock
NANOSLEEP_SYSCALLS = {"x86_64": {"35", "230"}, "aarch64": {"101", "115"}}.get(platform.machine(), set())


def _kill_worker_and_horse(worker):
    """SIGKILL the worker and its work horse (which RQ puts in a process group of its own)."""
    horses = [int(pid) for pid in filter(str.isdigit, os.listdir("/proc")) if _parent(pid) == worker.pid]
    os.killpg(worker.pid, signal.SIGKILL)
    for pid in horses:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.wait(timeout=10)


def _parent(pid) -> int:
    """The parent of process `pid` (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _waiting_for_the_write_lock(worker_pid, path):
    """Whether the worker or its work horse (its child) has the SQLite file
    open and sleeps in a nanosleep: inside the job's BEGIN IMMEDIATE, waiting on the test's lock."""
    path = os.path.realpath(path)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if worker_pid not in (int(pid), _parent(pid)):
                continue
            if not any(os.path.realpath(f"/proc/{pid}/fd/{fd}") == path for fd in os.listdir(f"/proc/{pid}/fd")):
                continue
            with open(f"/proc/{pid}/syscall") as fh:
                if fh.read().split()[0] in NANOSLEEP_SYSCALLS:
                    return True
        except (OSError, IndexError):  # gone meanwhile, or not ours to read
            continue
    return False


def _wait_for(predicate, what, limit=60):
    for _ in range(limit * 10):
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_worker_killed_mid_job_then_the_job_rerun_posts_exactly_once(settings, session, loans, database_url, redis_url):
    client = create_app(settings.with_(mpesa_callback_token="tok")).test_client()
    assert client.post("/payments/daraja/c2b/confirmation", json=c2b("RKKILL0001", "750.00", loans[0].account_ref),
                       headers=TOKEN).status_code == 200
    payment = session.exec(select(Payment)).one()
    redis = get_redis()
    job = Queue("payments", connection=redis).jobs[0]

    conn, tx = _hold_loan_lock(database_url, loans[0].id)
    worker = subprocess.Popen([sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", redis_url, "payments"],
                              env=dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(lambda: Job.fetch(job.id, connection=redis).get_status() == "started", "the job to start")
        if engine_for(database_url).dialect.name == "postgresql":
            def blocked():  # the job is inside its transaction, waiting on the loan's row lock
                with engine_for(database_url).connect() as probe:
                    return probe.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                              "AND datname = current_database()")).scalar() >= 1
            _wait_for(blocked, "the job to block")
        else:  # SQLite: the job's BEGIN IMMEDIATE waits on the write lock held above, in SQLite's busy handler
            assert NANOSLEEP_SYSCALLS, f"which syscalls sleep on {platform.machine()}?"
            _wait_for(lambda: _waiting_for_the_write_lock(worker.pid, database_url.removeprefix("sqlite:///")),
                      "the job to wait for the write lock")
        _kill_worker_and_horse(worker)  # mid-job
    finally:
        if worker.poll() is None:
            _kill_worker_and_horse(worker)
        tx.rollback()
        conn.close()

    session.rollback()  # a fresh snapshot: the workers committed meanwhile
    assert session.get(Payment, payment.id).status == "received" and ledger_total(session) == 0  # nothing half-done

    # The job is run again (RQ re-queues abandoned jobs; an operator can too) - and once more, as if the
    # second run had been killed after its commit: the payment is posted once.
    for _ in range(2):
        Queue("payments", connection=redis).enqueue(jobs.POST_PAYMENT.func, payment.id)
        SimpleWorker([Queue("payments", connection=redis)], connection=redis).work(burst=True)
    session.rollback()  # a fresh snapshot: the workers committed meanwhile
    assert session.get(Payment, payment.id).status == "posted"
    assert ledger_total(session) == 75_000
    receipts = select(func.count()).select_from(Message).where(Message.template == "payment_receipt")
    assert session.exec(receipts).one() == 1
