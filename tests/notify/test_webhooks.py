"""Outbound webhooks against a local HTTP server (port 0) that checks what a receiver checks: Slack's
shape (`text` plus `blocks`) and the generic endpoint's HMAC signature; retries with backoff and
Slack's Retry-After; refusals end in failed with the reason; no URL or secret in a log."""
import datetime as dt
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from click.testing import CliRunner
from sqlmodel import select

from gateway.cli import main
from gateway.i18n import N_, Speaker
from gateway.models import AuditEvent, Notification, WebhookEndpoint
from gateway.notify import endpoints, periodic
from gateway.ops import flags
from gateway.providers import webhooks
from tests.helpers import pay, run_jobs

UTC = dt.UTC
SLACK_PATH = "/services/T0001/B0002/s3cretPathToken"


class Receiver:
    """A webhook receiver: records each request and answers from a script (default 200 `ok`)."""

    def __init__(self):
        self.requests, self.script = [], []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, text, headers = receiver.script.pop(0) if receiver.script else (200, "ok", {})
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def slack_messages(self) -> list[dict]:
        out = []
        for r in self.requests:
            body = json.loads(r["body"])
            # Slack's shape: fallback text, and blocks of known types with text objects
            assert isinstance(body["text"], str) and body["text"]
            assert body["blocks"] and all(b["type"] in ("header", "section") for b in body["blocks"])
            assert all(b["text"]["type"] in ("plain_text", "mrkdwn") and b["text"]["text"] for b in body["blocks"])
            out.append(body)
        return out


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def _slack(session, factory, receiver, events, language="sw", **kw):
    endpoint, _ = endpoints.add(session, factory.partner.id, "slack", "#collections", receiver.url + SLACK_PATH,
                                events, "test", language=language, **kw)
    session.commit()
    return endpoint


def _notes(session) -> list[Notification]:
    session.commit()  # a fresh read of what the jobs committed since
    session.expire_all()
    return list(session.exec(select(Notification).order_by(Notification.id)))


def test_slack_gets_repaid_large_payment_and_flag_in_the_staff_language(session, factory, receiver, settings):
    _slack(session, factory, receiver, ["loan_repaid", "large_payment", "flag_raised"], payment_threshold=500000)
    loan = factory.loan(factory.borrower(), principal="10000", count=2, rate="0")
    pay(session, loan, 400000, "SMALL1")  # under the threshold: nothing
    pay(session, loan, 600000, "LARGE1")  # over it, and repays the loan
    flags.raise_flag(session, "reversals", str(loan.id), N_("{count} payments reversed"), {"count": 2},
                     loan_id=loan.id)
    session.commit()
    run_jobs()
    texts = [m["text"] for m in receiver.slack_messages()]
    ref, sw = loan.account_ref, Speaker("sw")
    reversals, reason = sw._("reversals"), sw._("{count} payments reversed", count=2)
    assert reason != "2 payments reversed"
    assert texts == [
        f"Jirani Finance: mkopo {ref} umelipwa wote\nbusiness loan, mtaji Ksh 10,000",
        f"Jirani Finance: malipo ya Ksh 6,000 kwa mkopo {ref}",
        f"Jirani Finance: alama imewekwa kwa mkopo {ref}\n{reversals}: {reason}"]
    assert {r["path"] for r in receiver.requests} == {SLACK_PATH}
    assert [(n.event, n.status, n.attempts) for n in _notes(session)] == [
        ("loan_repaid", "delivered", 1), ("large_payment", "delivered", 1), ("flag_raised", "delivered", 1)]


def test_generic_endpoint_gets_a_signed_daily_summary(session, factory, receiver, settings):
    endpoint, secret = endpoints.add(session, factory.partner.id, "generic", "BI", receiver.url + "/hooks/gw",
                                     ["daily_summary"], "test", daily_hour=7)
    session.commit()
    loan = factory.loan(factory.borrower(), principal="3000", count=3, rate="0", first_due=dt.date(2026, 12, 1))
    with time_machine.travel(dt.datetime(2026, 12, 1, 9, tzinfo=UTC), tick=False):
        pay(session, loan, 50000, "PART1")
    before = dt.datetime(2026, 12, 2, 3, 30, tzinfo=UTC)  # 06:30 in Nairobi: not yet
    assert periodic.tick(session, settings, now=before) == 0
    at_seven = dt.datetime(2026, 12, 2, 4, 5, tzinfo=UTC)
    assert periodic.tick(session, settings, now=at_seven) == 1
    assert periodic.tick(session, settings, now=at_seven + dt.timedelta(hours=3)) == 0  # once a day
    session.commit()
    run_jobs()
    (request,) = receiver.requests
    headers = request["headers"]
    assert webhooks.verify(secret, headers["X-Gateway-Timestamp"], request["body"], headers["X-Gateway-Signature"])
    assert not webhooks.verify("another secret", headers["X-Gateway-Timestamp"], request["body"],
                               headers["X-Gateway-Signature"])
    assert not webhooks.verify(secret, headers["X-Gateway-Timestamp"], request["body"] + b" ",
                               headers["X-Gateway-Signature"])
    body = json.loads(request["body"])
    assert body["event"] == "daily_summary"
    (kes,) = body["data"]["currencies"]
    # Dec 1: 1,000 due, 500 paid; at the end of Dec 1 the loan is not late yet (PAR counts from the day after)
    assert (kes["currency"], kes["collected"], kes["collection_rate"], kes["par1"]) == \
        ("KES", 50000, "0.5000", "0.0000")
    assert "Collected yesterday: Ksh500" in body["text"] and "Collection rate this month: 50.0 %" in body["text"]


@pytest.mark.parametrize("answer, reason", [((410, "channel_is_archived", {}), "HTTP 410: channel_is_archived"),
                                            ((404, "no_service", {}), "HTTP 404: no_service"),
                                            ((400, "invalid_payload", {}), "HTTP 400: invalid_payload")])
def test_slack_refusals_end_failed_with_the_reason(session, factory, receiver, settings, answer, reason):
    endpoint = _slack(session, factory, receiver, ["loan_repaid"])
    receiver.script = [answer]
    from gateway.notify import delivery

    delivery.send_test(session, endpoint.id)
    session.commit()
    run_jobs()
    (note,) = _notes(session)
    assert (note.status, note.attempts, note.last_error, note.last_status_code) == ("failed", 1, reason, answer[0])
    assert len(receiver.requests) == 1


def test_retries_with_backoff_and_slack_retry_after(session, factory, receiver, settings, monkeypatch):
    monkeypatch.setenv("NOTIFY_RETRY_BASE_SECONDS", "10")
    endpoint = _slack(session, factory, receiver, ["loan_repaid"])
    receiver.script = [(500, "oops", {}), (429, "rate_limited", {"Retry-After": "120"}), (200, "ok", {})]
    from gateway.notify import delivery

    start = dt.datetime(2026, 12, 1, 9, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        delivery.send_test(session, endpoint.id)
        session.commit()
        run_jobs()
    (note,) = _notes(session)
    assert (note.status, note.attempts, note.last_error) == ("pending", 1, "HTTP 500: oops")
    assert note.next_at == start + dt.timedelta(seconds=10)
    with time_machine.travel(start + dt.timedelta(seconds=11), tick=False):
        run_jobs()
    (note,) = _notes(session)
    assert (note.status, note.attempts, note.last_error) == ("pending", 2, "HTTP 429: rate limited")
    assert note.next_at == start + dt.timedelta(seconds=11 + 120)  # Slack's Retry-After, longer than the 20 s backoff
    with time_machine.travel(start + dt.timedelta(seconds=60), tick=False):
        run_jobs()  # not yet
    assert len(receiver.requests) == 2
    with time_machine.travel(start + dt.timedelta(seconds=132), tick=False):
        run_jobs()
    (note,) = _notes(session)
    assert (note.status, note.attempts, len(receiver.requests)) == ("delivered", 3, 3)


def test_bounded_retries_end_failed(session, factory, receiver, settings, monkeypatch):
    monkeypatch.setenv("NOTIFY_RETRY_BASE_SECONDS", "1")
    monkeypatch.setenv("NOTIFY_MAX_ATTEMPTS", "3")
    endpoint = _slack(session, factory, receiver, ["loan_repaid"])
    receiver.script = [(503, "busy", {})] * 5
    from gateway.notify import delivery

    start = dt.datetime(2026, 12, 1, 9, tzinfo=UTC)
    delivery.send_test(session, endpoint.id)
    session.commit()
    for k in range(4):
        with time_machine.travel(start + dt.timedelta(seconds=10 * k), tick=False):
            run_jobs()
    (note,) = _notes(session)
    assert (note.status, note.attempts, note.last_error) == ("failed", 3, "HTTP 503: busy after 3 attempts")
    assert len(receiver.requests) == 3


def test_no_url_or_secret_in_logs_errors_or_the_database(session, factory, receiver, settings, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "receiver-shared-secret-123456"
    endpoint, _ = endpoints.add(session, factory.partner.id, "generic", "BI", receiver.url + "/hooks/tok3n",
                                ["loan_repaid"], "test", secret=secret)
    slack = _slack(session, factory, receiver, ["loan_repaid"])
    closed = endpoints.add(session, factory.partner.id, "slack", "gone", "http://127.0.0.1:9" + SLACK_PATH,
                           ["loan_repaid"], "test")[0]  # nothing listens on port 9: connection refused
    session.commit()
    loan = factory.loan(factory.borrower(), principal="1000", count=1, rate="0")
    pay(session, loan, 100000, "ALL1")
    run_jobs()
    out = CliRunner().invoke(main, ["notify", "list"]).output
    assert f"{receiver.url}/…" in out and "http://127.0.0.1:9/…" in out
    session.expire_all()
    stored = json.dumps([[e.url_encrypted, e.secret_encrypted, e.url_hint]
                         for e in session.exec(select(WebhookEndpoint))])
    errors = [n.last_error for n in _notes(session)]
    audit = json.dumps([e.data for e in session.exec(select(AuditEvent).where(AuditEvent.entity == "webhook"))])
    assert sorted(errors) == ["", "", "connection failed (ConnectionError)"]
    for leak in ("s3cretPathToken", "/services/", "tok3n", secret):
        for where in (caplog.text, out, stored, json.dumps(errors), audit):
            assert leak not in where
    assert {endpoint.id, slack.id, closed.id} == {e.id for e in session.exec(select(WebhookEndpoint))}


def test_cli_add_list_test_remove(session, factory, receiver, settings):
    runner = CliRunner()
    out = runner.invoke(main, ["notify", "add", "--partner", "Jirani Finance", "--kind", "generic",
                               "--name", "BI", "--url", receiver.url + "/in", "--events", "loan_repaid,failures",
                               "--language", "fr"])
    assert out.exit_code == 0, out.output
    secret = out.output.split("receiver): ")[1].strip()
    bad = runner.invoke(main, ["notify", "add", "--partner", "Jirani Finance", "--kind", "slack",
                               "--url", receiver.url + "/x", "--events", "everything"])
    assert bad.exit_code == 2 and "events must be some of" in bad.output
    nobody = runner.invoke(main, ["notify", "add", "--partner", "Nobody", "--kind", "slack",
                                  "--url", receiver.url + "/x", "--events", "failures"])
    assert nobody.exit_code == 2 and "no lender named 'Nobody' (known: Jirani Finance)" in nobody.output
    endpoint_id = session.exec(select(WebhookEndpoint.id)).one()
    assert runner.invoke(main, ["notify", "test", str(endpoint_id)]).exit_code == 0
    run_jobs()
    (request,) = receiver.requests
    assert webhooks.verify(secret, request["headers"]["X-Gateway-Timestamp"], request["body"],
                           request["headers"]["X-Gateway-Signature"])
    assert json.loads(request["body"])["text"] == "Jirani Finance : message de test de la passerelle"
    listing = runner.invoke(main, ["notify", "list"]).output
    assert "generic" in listing and "delivered" in listing and "/in" not in listing
    assert runner.invoke(main, ["notify", "remove", str(endpoint_id)]).exit_code == 0
    assert runner.invoke(main, ["notify", "list"]).output.strip() == "no webhooks"
    assert runner.invoke(main, ["notify", "test", str(endpoint_id)]).exit_code == 2


def test_failure_alert_over_threshold_once_an_hour(session, factory, receiver, settings):
    from gateway.models import RawCallback

    _slack(session, factory, receiver, ["failures"], language="en", failure_threshold=2)
    now = dt.datetime(2026, 12, 1, 9, 10, tzinfo=UTC)
    session.add(RawCallback(provider="mpesa", kind="c2b", body="{}", status="failed", received_at=now))
    session.commit()
    assert periodic.tick(session, settings, now=now) == 0  # one failure: under the threshold
    session.add(RawCallback(provider="mpesa", kind="c2b", body="{}", status="rejected", received_at=now))
    session.commit()
    assert periodic.tick(session, settings, now=now) == 1
    assert periodic.tick(session, settings, now=now + dt.timedelta(minutes=5)) == 0
    session.commit()
    run_jobs()
    (msg,) = receiver.slack_messages()
    assert msg["text"] == "Jirani Finance: payment callbacks failing\n2 in the last hour (alert at 2)"


def test_console_page_shows_endpoints_and_deliveries_masked(app, session, factory, receiver, settings):
    import re

    from gateway.models import Agent
    from gateway.web.console_session import set_password

    _slack(session, factory, receiver, ["loan_repaid"], language="en")
    manager = Agent(name="Mary", phone="+254733000009", role="manager", field_partner_id=factory.partner.id)
    set_password(manager, "correct horse battery")
    session.add(manager)
    session.commit()
    client = app.test_client()
    page = client.get("/ops/login").get_data(as_text=True)
    client.post("/ops/login", data={"phone": manager.phone, "password": "correct horse battery",
                                    "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)})
    html = client.get("/ops/webhooks").get_data(as_text=True)
    assert "#collections" in html and f"{receiver.url}/…" in html and "Nothing sent yet." in html
    endpoint_id = session.exec(select(WebhookEndpoint.id)).one()
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    client.post(f"/ops/webhooks/{endpoint_id}/test", data={"csrf_token": token})
    run_jobs()
    html = client.get("/ops/webhooks?lang=sw").get_data(as_text=True)
    assert "imefika" in html and "s3cretPathToken" not in html and len(receiver.requests) == 1
