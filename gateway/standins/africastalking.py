"""A local stand-in for Africa's Talking SMS and Voice, speaking their documented formats
(docs/providers: POST /version1/messaging answers 201 application/json with per-recipient
statusCodes; POST /call answers the call entries). Used by the tests, and by local runs with no
network: `gateway at-standin --port 8090 --report-to http://127.0.0.1:5000/sms/delivery-report`,
then AT_SMS_BASE_URL=http://127.0.0.1:8090/version1 and AT_VOICE_BASE_URL=http://127.0.0.1:8090.
"""
from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import requests

STATUS_NAMES = {100: "Processed", 101: "Success", 102: "Queued", 401: "RiskHold", 402: "InvalidSenderId",
                403: "InvalidPhoneNumber", 404: "UnsupportedNumberType", 405: "InsufficientBalance",
                406: "UserInBlacklist", 407: "CouldNotRoute", 409: "DoNotDisturbRejection",
                500: "InternalServerError", 501: "GatewayError", 502: "RejectedByGateway"}


class StandIn:
    """Records every request; `sms_replies` / `call_replies` script the next answers, each one of
    {"code": 101}, {"http": 500}, {"sleep": 2.0} (then the normal answer, too late for a short
    client timeout), or a body of our choosing, for a provider answering something unreadable:
    {"body": '{"SMSMessage', "ctype": "application/json", "http": 201} (a str is sent as it is,
    anything else as JSON; ctype defaults to application/json, http to 201). When the script is
    empty, every send succeeds."""

    def __init__(self, report_to: str = "", on_request: Callable[[str, dict], None] | None = None):
        self.report_to = report_to  # post a "Success" delivery report for each SMS sent here
        self.on_request = on_request
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

    def report_later(self, reply: dict, delay: float = 1.0) -> None:
        sent = [r for r in reply["SMSMessageData"]["Recipients"] if r["messageId"] != "None"]

        def post():
            time.sleep(delay)
            for r in sent:
                with contextlib.suppress(requests.RequestException):
                    requests.post(self.report_to, data={"id": r["messageId"], "status": "Success",
                                                        "phoneNumber": r["number"], "networkCode": "99999"}, timeout=5)

        threading.Thread(target=post, daemon=True).start()

    @staticmethod
    def scripted(plan: dict) -> tuple[int, str, str]:
        body = plan["body"]
        return (plan.get("http", 201), plan.get("ctype", "application/json"),
                body if isinstance(body, str) else json.dumps(body))

    def answer(self, path: str, form: dict) -> tuple[int, str, str]:
        if path == "/version1/messaging":
            n, plan = self._next(self.sms_replies)
            if "sleep" in plan:
                time.sleep(plan["sleep"])
            if "body" in plan:
                return self.scripted(plan)
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
            if "body" in plan:
                return self.scripted(plan)
            if "http" in plan:
                return plan["http"], "text/plain", "Internal error"
            entries = [{"phoneNumber": number, "status": "Queued", "sessionId": f"ATVId_{n:04d}"}
                       for number in form["to"].split(",")]
            return 200, "application/json", json.dumps({"entries": entries, "errorMessage": "None"})
        return 404, "text/plain", "not found"


def _handler(fake: StandIn):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            with fake.lock:
                fake.requests.append((self.path, form, dict(self.headers)))
            if fake.on_request:
                fake.on_request(self.path, form)
            status, ctype, body = fake.answer(self.path, form)
            if fake.report_to and status == 201 and self.path == "/version1/messaging":
                # a scripted unreadable answer: nothing was sent
                with contextlib.suppress(ValueError, TypeError, KeyError):
                    fake.report_later(json.loads(body))
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the client gave up (timeout test)
                self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Handler




def start(host: str = "127.0.0.1", port: int = 0, **options) -> tuple[StandIn, ThreadingHTTPServer]:
    """Serve a stand-in on a background thread; returns it and the server (call .shutdown())."""
    fake = StandIn(**options)
    server = ThreadingHTTPServer((host, port), _handler(fake))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake, server
