"""A local stand-in for Africa's Talking (SMS and Voice) speaking its documented formats, and a
helper that runs queued RQ jobs with a real worker in burst mode."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from rq import Queue, SimpleWorker

from gateway.queue import get_redis

STATUS_NAMES = {100: "Processed", 101: "Success", 102: "Queued", 401: "RiskHold", 402: "InvalidSenderId",
                403: "InvalidPhoneNumber", 404: "UnsupportedNumberType", 405: "InsufficientBalance",
                406: "UserInBlacklist", 407: "CouldNotRoute", 409: "DoNotDisturbRejection",
                500: "InternalServerError", 501: "GatewayError", 502: "RejectedByGateway"}


class FakeAT:
    """Records every request; `sms_replies` / `call_replies` script the next answers, each one of
    {"code": 101}, {"http": 500}, {"sleep": 2.0}; when empty, every send succeeds."""

    def __init__(self):
        self.requests: list[tuple[str, dict, dict]] = []  # (path, form, headers)
        self.sms_replies: list[dict] = []
        self.call_replies: list[dict] = []
        self._n = 0
        self.lock = threading.Lock()

    @property
    def sms(self) -> list[dict]:
        return [form for path, form, _ in self.requests if path == "/version1/messaging"]

    @property
    def calls(self) -> list[dict]:
        return [form for path, form, _ in self.requests if path == "/call"]

    def _next(self, replies):
        with self.lock:
            self._n += 1
            return self._n, (replies.pop(0) if replies else {})

    def answer(self, path: str, form: dict) -> tuple[int, str, str]:
        if path == "/version1/messaging":
            n, plan = self._next(self.sms_replies)
            if "sleep" in plan:
                time.sleep(plan["sleep"])
            if "http" in plan:
                return plan["http"], "text/plain", "Internal error"
            code = plan.get("code", 101)
            ok = code in (100, 101, 102)
            cost = "KES 0.8000" if ok else "0"
            recipients = [{"statusCode": code, "number": number, "status": STATUS_NAMES[code], "cost": cost,
                           "messageId": f"ATXid_{n:04d}" if ok else "None"} for number in form["to"].split(",")]
            body = {"SMSMessageData": {"Message": f"Sent to {sum(ok for _ in recipients)}/{len(recipients)} "
                                                  f"Total Cost: {cost}", "Recipients": recipients}}
            return 201, "application/json", json.dumps(body)
        if path == "/call":
            n, plan = self._next(self.call_replies)
            if "http" in plan:
                return plan["http"], "text/plain", "Internal error"
            entries = [{"phoneNumber": number, "status": "Queued", "sessionId": f"ATVId_{n:04d}"}
                       for number in form["to"].split(",")]
            return 200, "application/json", json.dumps({"entries": entries, "errorMessage": "None"})
        return 404, "text/plain", "not found"


def _handler(fake: FakeAT):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            with fake.lock:
                fake.requests.append((self.path, form, dict(self.headers)))
            status, ctype, body = fake.answer(self.path, form)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except OSError:  # the client gave up (timeout test)
                pass

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def at_server(monkeypatch):
    fake = FakeAT()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
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


def run_jobs(max_rounds: int = 20) -> None:
    """Move due scheduled jobs (RQ `enqueue_at`, retries) into the queue and work it, until idle.
    Scheduled jobs whose time has not come (by the possibly travelled clock) stay scheduled."""
    queue = Queue("default", connection=get_redis())
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
