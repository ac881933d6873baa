"""A local stand-in for Safaricom's Daraja API (OAuth, STK push and STK push query), for tests and demos: we have
no network, and the sandbox needs credentials. It speaks the documented request/response
formats, records what it received, and can play the borrower: after answering an STK push it
POSTs the documented success callback to the request's CallBackURL. For fault tests it can also
answer late or unreadably: `faults["oauth"]` / `faults["stk"]` script the next answers (see
`_fault`).

    gateway payments stand-in --port 8089      # then MPESA_BASE_URL=http://127.0.0.1:8089
"""
from __future__ import annotations

import base64
import itertools
import json
import logging
import secrets
import string
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from gateway.providers.mpesa import client as mpesa

log = logging.getLogger(__name__)
_ids = itertools.count(1)


def success_callback(checkout_id: str, receipt: str, amount, phone, merchant_id="29115-34620561-1") -> str:
    """Safaricom's documented STK callback body (amounts are JSON numbers), paid now."""
    # %-formatting: the JSON's own braces would all need doubling for str.format
    return ('{"Body":{"stkCallback":{"MerchantRequestID":"%s","CheckoutRequestID":"%s",'  # noqa: UP031
            '"ResultCode":0,"ResultDesc":"The service request is processed successfully.",'
            '"CallbackMetadata":{"Item":[{"Name":"Amount","Value":%s},{"Name":"MpesaReceiptNumber","Value":"%s"},'
            '{"Name":"Balance"},{"Name":"TransactionDate","Value":%s},'
            '{"Name":"PhoneNumber","Value":%s}]}}}}'
            % (merchant_id, checkout_id, amount, receipt, mpesa.timestamp(), phone))


class DarajaStandIn:
    def __init__(self, consumer_key: str, consumer_secret: str, host: str = "127.0.0.1", port: int = 0,
                 auto_callback: bool = False, callback_delay: float = 1.0):
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.callbacks_sent: list[tuple[str, int]] = []
        self.callback_done = threading.Semaphore(0)  # released once per callback attempt
        self.issued_token = secrets.token_urlsafe(20)
        self.stk_status = 200
        self.stk_reply: dict | None = None  # None: a fresh MerchantRequestID/CheckoutRequestID each push
        self.auto_callback = auto_callback
        self.callback_delay = callback_delay
        # Scripted faults, one popped per request to that endpoint: {"sleep": 2.0} answers normally
        # but late; {"body": ..., "http": 200, "ctype": "text/html"} answers that instead (a str is
        # sent as it is, e.g. '{"access_tok' or an HTML page; anything else as JSON, e.g. [] or {}).
        self.faults: dict[str, list[dict]] = {"oauth": [], "stk": []}
        # STK Push Query answers, one popped per query: {"ResultCode": "0" | "1032" | ...}; when none is
        # scripted, Daraja's answer while the prompt is still open (errorCode 500.001.1001).
        self.query_replies: list[dict] = []
        self.accepted: set[str] = set()  # the Basic credentials OAuth accepts (one app per lender's shortcode)
        self.accept(consumer_key, consumer_secret)
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt, *args):
                log.debug(fmt, *args)

            def _reply(self, status: int, body, ctype: str = "application/json") -> None:
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up waiting (timeout tests)
                    pass

            def _fault(self, endpoint: str) -> bool:
                """Play the next scripted fault for this endpoint; True if it answered."""
                with stand_in.lock:
                    plan = stand_in.faults[endpoint].pop(0) if stand_in.faults[endpoint] else {}
                if "sleep" in plan:
                    time.sleep(plan["sleep"])
                if "body" in plan:
                    self._reply(plan.get("http", 200), plan["body"], plan.get("ctype", "application/json"))
                    return True
                return False

            def do_GET(self):
                stand_in.requests.append({"method": "GET", "path": self.path, "headers": dict(self.headers)})
                if self.path != "/oauth/v1/generate?grant_type=client_credentials":
                    return self._reply(404, {"errorMessage": "not found"})
                if self._fault("oauth"):
                    return None
                if self.headers.get("Authorization") not in stand_in.accepted:
                    return self._reply(400, {"errorCode": "400.008.01",
                                             "errorMessage": "Invalid Authentication passed"})
                self._reply(200, {"access_token": stand_in.issued_token, "expires_in": "3599"})

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                stand_in.requests.append({"method": "POST", "path": self.path, "headers": dict(self.headers),
                                          "json": body})
                if self.path not in ("/mpesa/stkpush/v1/processrequest", "/mpesa/c2b/v2/registerurl",
                                     "/mpesa/stkpushquery/v1/query"):
                    return self._reply(404, {"errorMessage": "not found"})
                if self.headers.get("Authorization") != f"Bearer {stand_in.issued_token}":
                    return self._reply(401, {"errorCode": "404.001.03", "errorMessage": "Invalid Access Token"})
                if self.path == "/mpesa/c2b/v2/registerurl":
                    return self._reply(200, {"OriginatorCoversationID": "7619-37765134-1", "ResponseCode": "0",
                                             "ResponseDescription": "success"})
                if self.path == "/mpesa/stkpushquery/v1/query":
                    return self._query(body)
                if self._fault("stk"):
                    return None
                reply = stand_in.stk_reply or stand_in.fresh_reply()
                self._reply(stand_in.stk_status, reply)
                if stand_in.auto_callback and stand_in.stk_status == 200:
                    threading.Timer(stand_in.callback_delay, stand_in.pay, (body, reply)).start()

            def _query(self, body: dict) -> None:
                if not body.get("CheckoutRequestID") or not body.get("Password") or not body.get("Timestamp"):
                    return self._reply(400, {"errorCode": "400.002.02", "errorMessage": "Bad Request"})
                with stand_in.lock:
                    answer = stand_in.query_replies.pop(0) if stand_in.query_replies else None
                if answer is None:
                    return self._reply(500, {"requestId": "1-2-3", "errorCode": mpesa.STILL_PROCESSING,
                                             "errorMessage": "The transaction is being processed"})
                self._reply(200, {"ResponseCode": "0", "ResponseDescription": "The service request has been accepted "
                                  "successsfully", "MerchantRequestID": "29115-34620561-1",
                                  "CheckoutRequestID": body["CheckoutRequestID"], "ResultDesc": "", **answer})

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @staticmethod
    def fresh_reply() -> dict:
        n = next(_ids)
        return {"MerchantRequestID": f"29115-34620561-{n}", "CheckoutRequestID": f"ws_CO_{secrets.token_hex(8)}",
                "ResponseCode": "0", "ResponseDescription": "Success. Request accepted for processing",
                "CustomerMessage": "Success. Request accepted for processing"}

    def pay(self, request: dict, reply: dict) -> None:
        """The borrower entered their PIN: send Safaricom's success callback."""
        receipt = "SBX" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(7))
        body = success_callback(reply["CheckoutRequestID"], receipt, request.get("Amount"), request.get("PartyA"),
                                reply["MerchantRequestID"])
        try:
            res = requests.post(request["CallBackURL"], data=body, headers={"Content-Type": "application/json"},
                                timeout=10)
            self.callbacks_sent.append((receipt, res.status_code))
        except requests.RequestException as exc:
            log.warning("stand-in could not deliver the STK callback: %s", exc)
        finally:
            self.callback_done.release()

    def stk_requests(self) -> list[dict]:
        return [r for r in self.requests if r["path"] == "/mpesa/stkpush/v1/processrequest"]

    def accept(self, consumer_key: str, consumer_secret: str) -> None:
        """OAuth accepts these credentials too (another lender's Daraja app)."""
        self.accepted.add("Basic " + base64.b64encode(f"{consumer_key}:{consumer_secret}".encode()).decode())

    def start(self) -> DarajaStandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
