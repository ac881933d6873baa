"""Every stuck state gets a final answer: an SMS whose worker died mid-send, a job left STARTED by
a killed worker, an STK push whose callback never came, a welcome call with no final callback."""
import base64
import dataclasses
import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import time_machine
from rq import Queue, SimpleWorker
from rq.job import Job
from sqlalchemy import text
from sqlmodel import select

from gateway import jobs, outbox
from gateway.db import engine_for
from gateway.messaging import queue_sms
from gateway.models import Agent, CallStatus, IntentStatus, Message, Payment, PaymentIntent, VoiceCall
from gateway.ops import reports
from gateway.queue import get_redis
from gateway.web.auth import issue_token
from gateway.web.console_session import set_password
from gateway.workers import runner, sweeper
from tests.helpers import PASSKEY, SHORTCODE, TOKEN, c2b, run_jobs, stk_success

UTC = dt.UTC


def _wait_for(predicate, what, limit=60.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _read(session, model, row_id):
    session.commit()  # end any read still open (the report's, say): on SQLite it would keep an old snapshot
    session.expire_all()
    row = session.exec(select(model).where(model.id == row_id)).one()
    session.commit()  # end the read: on SQLite it would hold the lock the jobs need
    return row


def _worker(database_url, redis_url, *queues):
    """A worker as `gateway serve` runs it, in its own process group (to be SIGKILLed)."""
    return subprocess.Popen([sys.executable, "-m", "gateway.workers.runner", "worker"],
                            env=dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _kill(proc):
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def _manager(session, factory):
    agent = Agent(name="Grace Otieno", phone="+254722000009", role="manager", field_partner_id=factory.partner.id)
    set_password(agent, "correct horse battery")
    token = issue_token(agent)
    session.add(agent)
    session.commit()
    return {"Authorization": f"Bearer {token}"}


# --- (a) an SMS left `sending` -------------------------------------------------------------------

def _die_mid_send(session, at_server, monkeypatch, database_url, redis_url, message_id):
    """The worker hands the SMS to AT, then is killed before it records AT's answer."""
    monkeypatch.setenv("AT_TIMEOUT_SECONDS", "30")
    at_server.sms_replies = [{"sleep": 20}]
    proc = _worker(database_url, redis_url)
    try:
        _wait_for(lambda: _read(session, Message, message_id).status == "sending" and at_server.sms, "the send")
    finally:
        _kill(proc)


def test_sms_left_sending_becomes_unknown_is_reviewed_and_settled(
        at_server, factory, session, client, monkeypatch, database_url, redis_url):
    b = factory.borrower(language="en")
    messages = []
    for n in range(2):
        messages.append(queue_sms(session, b, "balance_none", kind="transactional", dedupe_key=f"stuck-{n}",
                                  lender="Jirani Finance", help_line="0800 720 000"))
        session.commit()
        _die_mid_send(session, at_server, monkeypatch, database_url, redis_url, messages[-1].id)
        Queue("default", connection=get_redis()).empty()
    first, second = messages
    assert len(at_server.sms) == 2
    headers = _manager(session, factory)
    now = dt.datetime.now(UTC)

    with time_machine.travel(now + dt.timedelta(minutes=9), tick=False):
        assert sweeper.final_answers()["sms_unknown"] == 0
    with time_machine.travel(now + dt.timedelta(minutes=10, seconds=5), tick=False):
        assert sweeper.final_answers()["sms_unknown"] == 2
        assert sweeper.final_answers()["sms_unknown"] == 0  # once
        sweeper.sweep(older_than_seconds=0)
        run_jobs()
    assert [_read(session, Message, m.id).status for m in messages] == ["unknown", "unknown"]
    assert len(at_server.sms) == 2  # never resent by itself

    # counted in the messaging report, listed for review (API and console)
    month = now.strftime("%Y-%m")
    [row] = reports.messaging_report(session, month).rows
    assert row[:7] == ["balance_none", "en", 2, 0, 0, 0, 2]
    listed = client.get("/api/ops/messages/unknown", headers=headers).get_json()["messages"]
    assert [m["id"] for m in listed] == [first.id, second.id]
    assert client.get("/api/ops/messages/unknown").status_code == 401

    # a late delivery report (AT's id never reached us) cannot say which of two it is: both stay for review
    r = client.post("/sms/delivery-report", data={"id": "ATXid_late", "status": "Success", "phoneNumber": b.phone,
                                                  "networkCode": "63902"})
    assert r.status_code == 200 and r.get_json()["result"] == "unknown_message", r.get_json()
    assert [_read(session, Message, m.id).status for m in messages] == ["unknown", "unknown"]

    # an operator resends one from the list: sent once more
    r = client.post(f"/api/ops/messages/{first.id}/resend", headers=headers)
    assert r.status_code == 202 and r.get_json() == {"id": first.id, "status": "queued"}
    again = client.post(f"/api/ops/messages/{first.id}/resend", headers=headers)
    assert again.status_code == 400, again.get_json()  # not twice
    run_jobs()
    assert _read(session, Message, first.id).status == "sent" and len(at_server.sms) == 3

    # the other is now the only one to that phone: a late report settles it (matched by phone)
    r = client.post("/sms/delivery-report", data={"id": "ATXid_later", "status": "Success", "phoneNumber": b.phone,
                                                  "networkCode": "63902"})
    assert r.status_code == 200 and r.get_json()["result"] == "delivered", r.get_json()
    assert _read(session, Message, second.id).status == "delivered"
    assert _read(session, Message, second.id).provider_message_id == "ATXid_later"
    assert client.get("/api/ops/messages/unknown", headers=headers).get_json()["messages"] == []


def test_console_lists_unknown_messages_and_resends(at_server, factory, session, client):
    b = factory.borrower(language="sw")
    m = queue_sms(session, b, "balance_none", kind="transactional", lender="Jirani Finance", help_line="0800 720 000")
    m.status = "unknown"
    session.add(m)
    session.commit()
    Queue("default", connection=get_redis()).empty()
    agent = Agent(name="Grace Otieno", phone="+254722000009", role="manager", field_partner_id=factory.partner.id)
    set_password(agent, "correct horse battery")
    session.add(agent)
    session.commit()
    login_page = client.get("/ops/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
    client.post("/ops/login", data={"phone": "+254722000009", "password": "correct horse battery", "csrf_token": csrf})
    page = client.get("/ops/messages/unknown?lang=en").get_data(as_text=True)
    assert "Messages to review" in page and m.text in page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post(f"/ops/messages/{m.id}/resend", data={"csrf_token": csrf})
    assert r.status_code == 302
    run_jobs()
    assert _read(session, Message, m.id).status == "sent" and len(at_server.sms) == 1
    assert "No messages to review." in client.get("/ops/messages/unknown?lang=en").get_data(as_text=True)


# --- (b) a job left STARTED by a killed worker ------------------------------------------------------

def test_job_left_started_by_a_killed_worker_is_swept_within_seconds(
        settings, session, factory, database_url, redis_url, monkeypatch):
    from gateway.app import create_app
    b = factory.borrower()
    loan = factory.loan(b)
    client = create_app(settings.with_(mpesa_callback_token="tok")).test_client()
    assert client.post("/payments/daraja/c2b/confirmation", json=c2b("RKSTART001", "600.00", loan.account_ref),
                       headers={"X-Callback-Token": "tok"}).status_code == 200
    payment = session.exec(select(Payment)).one()
    session.commit()
    redis = get_redis()
    job_id = jobs.POST_PAYMENT.id(payment.id)

    engine = engine_for(database_url, immediate=True)  # hold the loan: the job blocks inside its transaction
    conn = engine.connect()
    tx = conn.begin()
    if engine.dialect.name == "postgresql":
        conn.execute(text("SELECT id FROM loan WHERE id = :id FOR UPDATE"), {"id": loan.id})
    proc = _worker(database_url, redis_url)
    try:
        _wait_for(lambda: Job.fetch(job_id, connection=redis).get_status() == "started", "the job to start")
        job = Job.fetch(job_id, connection=redis)
        _wait_for(lambda: runner.worker_alive(redis, job.worker_name), "the worker's alive key")
        time.sleep(runner.ALIVE_SECONDS / 3 + 1)
        assert not sweeper.abandoned(redis, Job.fetch(job_id, connection=redis))  # running, its worker alive
        _kill(proc)
    finally:
        if proc.poll() is None:
            _kill(proc)
        tx.rollback()
        conn.close()
    killed = time.monotonic()
    assert Job.fetch(job_id, connection=redis).get_status() == "started"  # what RQ believes for minutes
    _wait_for(lambda: sweeper.sweep(older_than_seconds=0)["enqueued"] == 1, "the sweeper to take the job back", 60)
    print(f"abandoned job swept {time.monotonic() - killed:.1f} s after the kill")
    SimpleWorker([Queue("payments", connection=redis)], connection=redis).work(burst=True)
    assert _read(session, Payment, payment.id).status == "posted"
    assert sweeper.sweep(older_than_seconds=0)["enqueued"] == 0


# --- (c) an STK push whose callback never came -------------------------------------------------------

def _intent(session, factory, phone):
    b = factory.borrower(phone=phone, language="en")
    loan = factory.loan(b)
    intent = PaymentIntent(loan_id=loan.id, amount=50000, currency="KES", phone=b.phone, session_id=f"ATUid_{loan.id}")
    session.add(intent)
    session.flush()
    outbox.after_commit(session, dataclasses.replace(jobs.START_STK_PUSH, retry=lambda s: None), intent.id)
    session.commit()
    SimpleWorker([Queue("payments", connection=get_redis())], connection=get_redis()).work(burst=True)
    return intent


@pytest.mark.parametrize("answers,status,sms", [
    ([{"ResultCode": "0", "ResultDesc": "The service request is processed successfully."}], "paid", []),
    ([{"ResultCode": "1032", "ResultDesc": "Request cancelled by user"}], "failed", ["stk_failed"]),
    ([None, None, {"ResultCode": "1037", "ResultDesc": "DS timeout user cannot be reached"}], "failed", ["stk_failed"]),
])
def test_stk_intent_without_callback_is_settled_from_the_query(
        factory, session, daraja, pay_settings, answers, status, sms):
    intent = _intent(session, factory, "+254708374149")
    assert _read(session, PaymentIntent, intent.id).status == "sent"
    pushed = _read(session, PaymentIntent, intent.id).created_at
    with time_machine.travel(pushed + dt.timedelta(minutes=2, seconds=59), tick=False) as clock:
        assert sweeper.final_answers()["stk_intents"] == {"settled": 0, "still_open": 0, "gave_up": 0}
        assert [r for r in daraja.requests if "query" in r["path"]] == []
        for answer in answers:
            clock.shift(dt.timedelta(minutes=1))
            if answer is None:  # Daraja: still being processed
                daraja.query_replies = []
                assert sweeper.final_answers()["stk_intents"]["still_open"] == 1
            else:
                daraja.query_replies = [answer]
                assert sweeper.final_answers()["stk_intents"]["settled"] == 1
        assert sweeper.final_answers()["stk_intents"] == {"settled": 0, "still_open": 0, "gave_up": 0}
    intent = _read(session, PaymentIntent, intent.id)
    assert (intent.status, intent.result_code) == (status, answers[-1]["ResultCode"])
    queries = [r for r in daraja.requests if r["path"] == "/mpesa/stkpushquery/v1/query"]
    assert len(queries) == len(answers)
    body = queries[0]["json"]
    assert body == {"BusinessShortCode": SHORTCODE, "Password": body["Password"], "Timestamp": body["Timestamp"],
                    "CheckoutRequestID": intent.checkout_request_id}
    assert base64.b64decode(body["Password"]).decode() == f"{SHORTCODE}{PASSKEY}{body['Timestamp']}"
    assert queries[0]["headers"]["Authorization"] == f"Bearer {daraja.issued_token}"
    assert [m.template for m in session.exec(select(Message))] == sms
    session.commit()


def test_stk_query_still_processing_is_asked_again_then_given_up(factory, session, daraja, pay_settings, pay_client):
    intent = _intent(session, factory, "+254708374149")
    pushed = _read(session, PaymentIntent, intent.id).created_at
    with time_machine.travel(pushed + dt.timedelta(minutes=30), tick=False) as clock:
        assert sweeper.final_answers()["stk_intents"]["still_open"] == 1
        clock.move_to(pushed + dt.timedelta(minutes=60))
        assert sweeper.final_answers()["stk_intents"]["gave_up"] == 1
        assert sweeper.final_answers()["stk_intents"] == {"settled": 0, "still_open": 0, "gave_up": 0}
    intent = _read(session, PaymentIntent, intent.id)
    assert (intent.status, intent.result_code) == (IntentStatus.failed, "no_answer")
    assert session.exec(select(Message)).all() == []  # no "payment failed" SMS on a guess
    session.commit()
    # the callback comes after all: the money is recorded and the intent paid
    r = pay_client.post(f"/payments/mpesa/stk/callback?token={TOKEN}", data=stk_success(intent.checkout_request_id),
                        content_type="application/json")
    assert r.status_code == 200
    assert _read(session, PaymentIntent, intent.id).status == "paid"


# --- (d) a welcome call with no final callback -----------------------------------------------------

def test_welcome_call_without_final_callback_times_out_and_falls_back_to_sms(
        at_server, factory, session, client, monkeypatch):
    monkeypatch.setenv("VOICE_CALL_RETRIES", "0")
    from gateway.messaging import welcome
    morning = dt.datetime(2026, 11, 24, 7, 0, tzinfo=UTC)  # 10:00 in Nairobi
    b = factory.borrower(language="en")
    loan = factory.loan(b)
    with time_machine.travel(morning, tick=False) as clock:
        from gateway.config import Settings
        welcome.start(session, b, loan, Settings.from_env(), actor="test")
        session.commit()
        run_jobs()
        [call] = session.exec(select(VoiceCall)).all()
        session.commit()
        assert (call.status, call.placed_at) == (CallStatus.queued, morning)
        clock.move_to(morning + dt.timedelta(minutes=29))
        assert sweeper.final_answers()["calls_timed_out"] == 0
        clock.move_to(morning + dt.timedelta(minutes=30))
        assert sweeper.final_answers()["calls_timed_out"] == 1
        assert sweeper.final_answers()["calls_timed_out"] == 0
        run_jobs()
        call = _read(session, VoiceCall, call.id)
        assert (call.status, call.hangup_cause) == ("failed", "no final callback")
        assert [m.template for m in session.exec(select(Message).order_by(Message.id))] == \
            ["welcome", "welcome_call_missed"]
        session.commit()
        assert len(at_server.sms) == 2
        # AT's final report arrives after all: recorded, and the welcome does not go on twice
        r = client.post("/voice/welcome", data={"isActive": "0", "sessionId": call.session_id, "status": "Failed",
                                                "callSessionState": "NotAnswered", "hangupCause": "NO_ANSWER",
                                                "durationInSeconds": "0"})
        assert r.status_code == 200
        run_jobs()
    assert _read(session, VoiceCall, call.id).hangup_cause == "NO_ANSWER"
    assert len(session.exec(select(Message)).all()) == 2 and len(at_server.sms) == 2
