"""No callback token in any log: gunicorn as `gateway serve` runs it (its access log included), the
werkzeug development server, and the gateway's own logging (gateway.logs)."""
import json
import logging
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

from werkzeug.serving import make_server

from gateway import logs, serve
from gateway.app import create_app
from gateway.config import ROOT

SECRET = "s3cr3t-Tok3n-4f9a"
C2B = {"TransactionType": "Pay Bill", "TransID": "TKX1234567", "TransTime": "20261120121325", "TransAmount": "500.00",
       "BusinessShortCode": "600966", "BillRefNumber": "NOSUCH", "MSISDN": "254712345678", "FirstName": "AMINA"}
PATHS = [f"/payments/daraja/c2b/confirmation?token={SECRET}",  # right token
         f"/payments/daraja/c2b/confirmation?token={SECRET}x&other=1",  # wrong token: 403, logged as such
         f"/sms/delivery-report?token={SECRET}",
         f"/ussd?a=1&token={SECRET}"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post_all(base: str) -> list[int]:
    codes = []
    for path in PATHS:
        body = json.dumps(C2B).encode() if "c2b" in path else b"id=ATXid_1&status=Success"
        kind = "application/json" if "c2b" in path else "application/x-www-form-urlencoded"
        request = urllib.request.Request(base + path, data=body, headers={"Content-Type": kind})
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                codes.append(reply.status)
        except urllib.error.HTTPError as err:
            codes.append(err.code)
    return codes


def test_gunicorn_as_served_logs_paths_without_tokens(settings, monkeypatch, tmp_path):
    port = _free_port()
    cmd = serve.commands("127.0.0.1", port, 1, settings.redis_url)["web"]
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "GATEWAY_INSTANCE_PATH": str(tmp_path), "MPESA_CALLBACK_TOKEN": SECRET, "AT_CALLBACK_TOKEN": SECRET,
           "SECRET_KEY": "a-test-secret-key-not-a-callback-token"}
    out = open(tmp_path / "gunicorn.log", "w+")  # noqa: SIM115  (gunicorn writes to it until it stops)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        codes = _post_all(f"http://127.0.0.1:{port}")
        time.sleep(0.5)  # let the worker flush its access log
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    out.seek(0)
    text = out.read()
    assert codes[0] == 200 and codes[1] == 403
    assert "/payments/daraja/c2b/confirmation" in text and "/sms/delivery-report" in text  # the access log is there
    assert SECRET not in text


def test_werkzeug_development_server_logs_no_tokens(settings, monkeypatch, caplog):
    monkeypatch.setenv("MPESA_CALLBACK_TOKEN", SECRET)
    monkeypatch.setenv("AT_CALLBACK_TOKEN", SECRET)
    server = make_server("127.0.0.1", 0, create_app())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with caplog.at_level(logging.INFO):
            codes = _post_all(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    assert codes[0] == 200
    assert any("/payments/daraja/c2b/confirmation" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if SECRET in r.getMessage()]


def test_gateway_logs_mask_secrets_in_urls_and_tracebacks(caplog):
    logs.install()
    log = logging.getLogger("gateway.test")
    with caplog.at_level(logging.INFO):
        log.info("POST %s", f"https://gw.example/ussd?token={SECRET}&x=1")
        log.info("callback url http://h/payments/daraja/stk/callback?token=%s sent", SECRET)
        try:
            raise ValueError(f"bad url /sms/inbound?foo=1&token={SECRET}")
        except ValueError:
            log.exception("failed")
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert SECRET not in text and "token=***" in text and "x=1" in text
    assert logs.mask_text(f"X-Callback-Token: {SECRET}") == "X-Callback-Token: ***"
