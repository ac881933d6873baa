"""Providers answering late or unreadably, from the local stand-ins (real HTTP, the real clients,
a real RQ worker): a truncated JSON body, an HTML error page with 200, JSON of the wrong shape, an
answer slower than the client's timeout. What a borrower or an operator would see: the Message or
PaymentIntent's final status and reason after bounded retries with backoff, how often the
provider was asked, and every job finished (nothing left claimed, scheduled or failed in RQ).

5xx answers and plain timeouts of AT are in test_sms_sending.py; Daraja refusals and an
unreachable Daraja in test_payments_stk.py."""
import datetime as dt

import pytest
import time_machine
from rq import Queue
from sqlmodel import select

from gateway.config import Settings
from gateway.db import utcnow
from gateway.messaging import queue_sms
from gateway.messaging.welcome import plan_call
from gateway.models import Message, VoiceCall
from gateway.providers import africastalking as at
from gateway.queue import get_redis
from payments_support import read
from standins import at_server, run_jobs, scheduled_at  # noqa: F401  (fixture)

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.timezone.utc)  # 12:00 in Nairobi: no quiet hours
HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"


def run_until_idle(clock, queue_name="default") -> list[float]:
    """Work the queue; each time only retries are left, move the clock to the next one. Returns
    the waits before each retry, in seconds (compare with pytest.approx: the clock ticks)."""
    waits = []
    run_jobs(queue_name=queue_name)
    while scheduled_at(queue_name):
        due = scheduled_at(queue_name)[0]
        waits.append((due - dt.datetime.now(dt.timezone.utc)).total_seconds())
        clock.move_to(due + dt.timedelta(seconds=1))
        run_jobs(queue_name=queue_name)
    return waits


def nothing_left(queue_name: str) -> bool:
    q = Queue(queue_name, connection=get_redis())
    return q.count == 0 and not scheduled_at(queue_name) and q.failed_job_registry.count == 0


# ---- (a) Africa's Talking: sending an SMS ---------------------------------------------------

SMS_FAULTS = {
    "truncated JSON": ({"body": '{"SMSMessageData": {"Message": "Sent to 1/1 Total Cost: KES 0.8000", "Recipi'},
                       "Africa's Talking answered malformed JSON: {\"SMSMessageData\": {\"Message\""),
    "HTML error page with 200": ({"body": HTML_502, "ctype": "text/html", "http": 200},
                                 "Africa's Talking answered text, not JSON: <html><head><ti"),
    "a JSON list": ({"body": [{"statusCode": 101, "messageId": "ATXid_1"}]},
                    "Africa's Talking answered a JSON list, not an object: [{\"s"),
    "no Recipients": ({"body": {"SMSMessageData": {"Message": "Sent to 1/1 Total Cost: KES 0.8000"}}},
                      "Africa's Talking's reply has no Recipients list: {\"SMSMess"),
    "a recipient without statusCode": ({"body": {"SMSMessageData": {"Message": "", "Recipients": [
                                        {"number": "+254712000001", "status": "Success", "messageId": "ATXid_1"}]}}},
                                       "Africa's Talking's reply has no recipient statusCode: {\"SMS"),
    "a recipient that is not an object": ({"body": {"SMSMessageData": {"Recipients": ["+254712000001"]}}},
                                          "Africa's Talking's reply has no recipient statusCode: {\"SMS"),
    "slower than the timeout": ({"sleep": 1.0}, "Africa's Talking did not answer within 0.5 s"),
}


def _stored_sms(session, factory) -> Message:
    borrower = factory.borrower(language="en")
    m = queue_sms(session, borrower, "balance_none", kind="reply", lender="Jirani Finance", help_line="0800 720 000")
    session.commit()
    return m


@pytest.mark.parametrize("fault", SMS_FAULTS)
def test_sms_unreadable_answers_are_retried_with_backoff_then_failed_with_the_reason(
        at_server, factory, session, monkeypatch, fault):
    monkeypatch.setenv("SMS_MAX_RETRIES", "2")
    plan, reason = SMS_FAULTS[fault]
    at_server.sms_replies = [plan] * 3
    with time_machine.travel(T0, tick=True) as clock:
        m = _stored_sms(session, factory)
        waits = run_until_idle(clock)
    [m] = read(session, select(Message).where(Message.id == m.id))
    assert [h["status"] for h in m.status_history] == ["sending", "retrying"] * 2 + ["sending", "failed"]
    final_reason = m.status_history[-1]["reason"]
    assert final_reason.startswith(reason)
    assert (m.status, m.attempts, m.failure_reason) == ("failed", 3, final_reason[:60])
    assert waits == pytest.approx([60, 120], abs=2)  # SMS_RETRY_BASE_SECONDS doubling
    assert len(at_server.sms) == 3
    assert nothing_left("default")


def test_sms_unreadable_answer_once_then_sent_on_the_retry(at_server, factory, session):
    at_server.sms_replies = [{"body": HTML_502, "ctype": "text/html", "http": 200}]
    with time_machine.travel(T0, tick=True) as clock:
        m = _stored_sms(session, factory)
        waits = run_until_idle(clock)
    [m] = read(session, select(Message).where(Message.id == m.id))
    assert (m.status, m.attempts, m.provider_message_id, m.failure_reason) == ("sent", 2, "ATXid_0002", "")
    assert waits == pytest.approx([60], abs=2) and len(at_server.sms) == 2 and nothing_left("default")


def test_voice_call_reply_of_the_wrong_shape_fails_the_call_and_falls_back_to_sms(
        at_server, factory, session, monkeypatch):
    monkeypatch.setenv("VOICE_CALL_RETRIES", "0")
    at_server.call_replies = [{"body": {"entries": "ATVId_0001", "errorMessage": "None"}, "http": 200}]
    with time_machine.travel(T0, tick=True):
        borrower = factory.borrower(language="en")
        loan = factory.loan(borrower)
        call = plan_call(session, borrower, loan, 1, 1, utcnow(), Settings.from_env())
        session.commit()
        run_jobs()
    [call] = read(session, select(VoiceCall).where(VoiceCall.id == call.id))
    assert (call.status, call.hangup_cause) == ("failed", "Africa's Talking's call reply has no entries list"[:40])
    assert len(at_server.calls) == 1
    [fallback] = read(session, select(Message))  # no retries left: the welcome goes by SMS instead
    assert (fallback.template, fallback.status) == ("welcome_call_missed", "sent")
    assert nothing_left("default")


def test_the_adapter_names_what_was_wrong(at_server, settings):
    at_server.call_replies = [{"body": HTML_502, "ctype": "text/html", "http": 200}, {"body": "[1, 2"}]
    s = Settings.from_env()
    for expected in ("Africa's Talking answered text, not JSON: <html>",
                     "Africa's Talking answered malformed JSON: [1, 2"):
        with pytest.raises(at.ProviderUnavailable) as err:
            at.call(s, "+254712000001")
        assert str(err.value).startswith(expected)
