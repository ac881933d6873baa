"""The worker `gateway serve` runs: it waits for jobs without its Redis reads timing out, and stops when asked."""
import os
import re
import signal
import subprocess
import sys
import time

from gateway.config import ROOT
from gateway.queue import get_redis
from gateway.workers import runner


def test_an_idle_worker_waits_for_jobs_longer_than_a_socket_timeout(settings):
    shared = get_redis(settings)
    runner.wait_for_redis(shared)  # as run_worker does first: the shared client now holds a connection
    worker = runner.new_worker(settings)
    connection = worker.connection.connection_pool.get_connection()
    try:
        # RQ blocks on BLPOP for dequeue_timeout seconds: a shorter socket timeout breaks every wait with
        # "could not connect to Redis instance" and a back-off of up to a minute before the next job.
        assert connection.socket_timeout is None or connection.socket_timeout > worker.dequeue_timeout
    finally:
        worker.connection.connection_pool.release(connection)


def test_the_worker_listens_to_every_queue_money_first(settings):
    worker = runner.new_worker(settings)
    assert [q.name for q in worker.queues] == ["payments", "default"]


def test_an_idle_worker_stops_on_sigterm_instead_of_starting_again(settings):
    env = dict(os.environ, REDIS_URL=settings.redis_url, DATABASE_URL=settings.database_url)
    worker = subprocess.Popen([sys.executable, "-m", "gateway.workers.runner", "worker"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        name = next(re.search(r"Worker (\w+): started", line).group(1)
                    for line in worker.stdout if ": started with PID" in line)
        redis = get_redis(settings)
        for _ in range(1200):  # until it waits for a job, RQ's signal handlers on (at most a minute)
            if redis.hget(f"rq:worker:{name}", "state") == b"idle":
                break
            time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0  # before: a new worker started, until `gateway serve` killed it
        rest = worker.stdout.read()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert "warm shut down requested" in rest and "started with PID" not in rest
