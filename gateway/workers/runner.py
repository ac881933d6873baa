"""The worker and scheduler processes `gateway serve` runs, made to outlive Redis outages.

RQ's own `rq worker` quits on the first Redis error ("found an unhandled exception, quitting") and
its scheduler process dies with it. Here each waits for Redis and starts again instead
(`python -m gateway.workers.runner worker|scheduler`), and `gateway serve` restarts either if it
exits anyway. A worker also keeps a short-lived "alive" key in Redis while it runs, so the
sweeper can tell within seconds that a job left STARTED belongs to a worker that was killed
(RQ itself notices only when the job's heartbeat runs out, minutes later).
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import SimpleWorker, Worker
from rq.scheduler import RQScheduler

from gateway.config import Settings
from gateway.queue import QUEUES, get_redis, resolve_redis_url

log = logging.getLogger(__name__)
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
ALIVE_SECONDS = 15  # the alive key's lifetime; refreshed every ALIVE_SECONDS / 3
WORKER_CLASSES = {"simple": SimpleWorker, "fork": Worker}
_stopping = threading.Event()


def alive_key(worker_name: str) -> str:
    return f"gateway:worker-alive:{worker_name}"


def worker_alive(redis, worker_name: str | None) -> bool:
    return bool(worker_name) and bool(redis.exists(alive_key(worker_name)))


def _stop(*_):
    _stopping.set()


def _own_signals() -> None:
    """RQ's worker and scheduler install their handlers while they run; between runs, ours."""
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)


def wait_for_redis(redis, most: float = 5.0) -> None:
    """Block until Redis answers (or a stop is asked), trying again after 0.5 s, 1 s, ... `most` s."""
    pause = 0.5
    while not _stopping.is_set():
        try:
            redis.ping()
            return
        except REDIS_DOWN as exc:
            log.warning("Redis unreachable (%s); trying again in %.1f s", type(exc).__name__, pause)
            _stopping.wait(pause)
            pause = min(pause * 2, most)


def _keep_alive(redis, name: str, done: threading.Event) -> None:
    while not done.is_set():
        with contextlib.suppress(REDIS_DOWN):
            redis.set(alive_key(name), os.getpid(), ex=ALIVE_SECONDS)
        done.wait(ALIVE_SECONDS / 3)


def new_worker(settings: Settings, worker_class=SimpleWorker):
    """A worker on a Redis client of its own. redis-py reads with a 5 s socket timeout by default (8.0 on),
    and RQ lengthens it past its blocking dequeue's wait only for connections made after the worker is
    built; on the shared client, whose connection had already answered `wait_for_redis`, an idle worker's
    every wait broke after 5 s ("could not connect to Redis instance: Timeout reading from socket") and RQ
    backed off up to a minute, holding new jobs back for as long."""
    return worker_class(list(QUEUES), connection=Redis.from_url(resolve_redis_url(settings)))


def run_worker(settings: Settings) -> None:
    redis = get_redis(settings)
    worker_class = WORKER_CLASSES[settings.worker_class]
    while not _stopping.is_set():
        _own_signals()
        wait_for_redis(redis)
        if _stopping.is_set():
            break
        worker = new_worker(settings, worker_class)
        done = threading.Event()
        threading.Thread(target=_keep_alive, args=(redis, worker.name, done), daemon=True).start()
        try:
            worker.work(logging_level="INFO")  # returns when Redis fails or a stop is asked
        except REDIS_DOWN as exc:
            log.warning("worker: Redis failed (%s)", type(exc).__name__)
        finally:
            done.set()
        # Asked to stop: while busy RQ sets _stop_requested; while idle it returns at once, with only the
        # time of the request noted (before, the loop then started a new worker until serve killed it).
        if worker._stop_requested or getattr(worker, "_shutdown_requested_date", None):
            break
        _stopping.wait(1)


def run_scheduler(settings: Settings) -> None:
    """RQ's scheduler (moves `enqueue_at` jobs and retries into their queues when due), in a loop.
    Its name is fixed for this `gateway serve` (SCHEDULER_NAME), so after a restart it takes back
    its own lock at once instead of waiting for the old one to expire."""
    redis = get_redis(settings)
    name = os.environ.get("GATEWAY_SCHEDULER_NAME") or f"gateway-{os.getpid()}"
    while not _stopping.is_set():
        _own_signals()
        wait_for_redis(redis)
        if _stopping.is_set():
            break
        scheduler = RQScheduler(list(QUEUES), connection=redis, name=name)
        try:
            scheduler.acquire_locks()
            scheduler.work()  # installs its own SIGTERM handler; returns once asked to stop
            break
        except REDIS_DOWN as exc:
            log.warning("scheduler: Redis failed (%s)", type(exc).__name__)
            _stopping.wait(1)


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings.from_env()
    {"worker": run_worker, "scheduler": run_scheduler}[argv[0]](settings)


if __name__ == "__main__":
    main(sys.argv[1:])
