"""`gateway serve` keeps its worker, scheduler and cron running through a Redis outage, with no
manual step: Redis (a private one, never the shared server) is stopped with SHUTDOWN NOSAVE and
started again from its append-only file, as after a crash."""
import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import redis
from sqlmodel import select

from gateway import jobs
from gateway.config import ROOT
from gateway.db import utcnow
from gateway.messaging import queue_sms
from gateway.models import Message


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(predicate, what, limit=120.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class PrivateRedis:
    def __init__(self, folder):
        self.port, self.folder = _free_port(), folder
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        subprocess.run(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
                        "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "yes"],
                       check=True, stdout=subprocess.DEVNULL)
        _wait_for(self.answers, "redis to start", 20)

    def answers(self):
        try:
            return redis.Redis(port=self.port, socket_timeout=0.5).ping()
        except redis.RedisError:
            return False

    def crash(self):
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis(port=self.port).shutdown(nosave=True)
        _wait_for(lambda: not self.answers(), "redis to stop", 20)


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.crash()


def _status(session, message_id):
    session.expire_all()
    status = session.exec(select(Message.status).where(Message.id == message_id)).one()
    session.commit()
    return status


def test_work_due_during_a_redis_outage_runs_after_it_without_a_manual_step(
        at_server, factory, session, private_redis, monkeypatch, tmp_path):
    monkeypatch.setenv("REDIS_URL", private_redis.url)
    log = open(tmp_path / "serve.log", "w+")  # noqa: SIM115  (serve writes to it until it stops)
    serve = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port", str(_free_port()),
                              "--workers", "1"], cwd=ROOT, env=dict(os.environ), stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
    try:
        b = factory.borrower(language="en")
        first = queue_sms(session, b, "balance_none", kind="transactional", lender="Jirani Finance",
                          help_line="0800 720 000")
        session.commit()
        _wait_for(lambda: _status(session, first.id) == "sent", "the worker to send before the outage")

        # A stored SMS whose job (a retry, say) falls due in the middle of the outage; Redis keeps it
        # in its append-only file.
        due = Message(borrower_id=b.id, phone=b.phone, kind="transactional", template="balance_none", language="en",
                      text="Jirani Finance: due in the outage", encoding="GSM-7")
        session.add(due)
        session.commit()
        jobs.enqueue(jobs.SEND_SMS, due.id, at=utcnow() + dt.timedelta(seconds=3))
        private_redis.crash()
        time.sleep(8)  # the outage; the job falls due in it
        private_redis.start()
        back = time.monotonic()
        _wait_for(lambda: _status(session, due.id) == "sent", "the job due in the outage", limit=90)
        after_outage = time.monotonic() - back

        later = queue_sms(session, b, "balance_none", kind="transactional", dedupe_key="after-outage",
                          lender="Jirani Finance", help_line="0800 720 000")
        session.commit()
        _wait_for(lambda: _status(session, later.id) == "sent", "new work after the outage", limit=90)
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(timeout=30)
    log.seek(0)
    text = log.read()
    print(f"work due in the outage ran {after_outage:.1f} s after Redis came back")
    assert serve.returncode == 0, text[-3000:]
    assert len(at_server.sms) == 3
