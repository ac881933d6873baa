"""Test helpers: the Africa's Talking stand-in as a fixture (gateway.standins.africastalking), and a
helper that runs queued RQ jobs with a real worker in burst mode."""
from __future__ import annotations

import time

import pytest
from rq import Queue, SimpleWorker

from gateway.standins import africastalking as at_standin
from gateway.queue import get_redis


@pytest.fixture
def at_server(monkeypatch):
    fake, server = at_standin.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("AT_USERNAME", "jirani")
    monkeypatch.setenv("AT_API_KEY", "test-key")
    monkeypatch.setenv("AT_SMS_BASE_URL", base + "/version1")
    monkeypatch.setenv("AT_VOICE_BASE_URL", base)
    monkeypatch.setenv("AT_TIMEOUT_SECONDS", "0.5")
    monkeypatch.setenv("SMS_RETRY_BASE_SECONDS", "60")
    yield fake
    server.shutdown()
    server.server_close()


def run_jobs(max_rounds: int = 20, queue_name: str = "default") -> None:
    """Move due scheduled jobs (RQ `enqueue_at`, retries) into the queue and work it, until idle.
    Scheduled jobs whose time has not come (by the possibly travelled clock) stay scheduled."""
    queue = Queue(queue_name, connection=get_redis())
    for _ in range(max_rounds):
        registry = queue.scheduled_job_registry
        for job_id in registry.get_jobs_to_schedule(int(time.time())):
            job = queue.fetch_job(job_id)
            registry.remove(job_id)
            if job is not None:
                queue.enqueue_job(job)
        if queue.count == 0:
            return
        SimpleWorker([queue], connection=queue.connection).work(burst=True)



def scheduled_at(queue_name: str = "default") -> list:
    """UTC times of the jobs waiting in RQ's scheduled registry, earliest first."""
    registry = Queue(queue_name, connection=get_redis()).scheduled_job_registry
    return sorted(registry.get_scheduled_time(job_id) for job_id in registry.get_job_ids())
