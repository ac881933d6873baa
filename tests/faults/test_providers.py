"""Providers answering late or unreadably, from the local stand-ins (real HTTP, the real clients,
a real RQ worker): a truncated JSON body, an HTML error page with 200, JSON of the wrong shape, an
answer slower than the client's timeout. What a borrower or an operator would see: the Message or
PaymentIntent's final status and reason after bounded retries with backoff, how often the
provider was asked, and every job finished (nothing left claimed, scheduled or failed in RQ).

5xx answers and plain timeouts of AT are in messaging/test_sms_sending.py; Daraja refusals and an
unreachable Daraja in payments/test_stk.py."""
import datetime as dt

import pytest
import time_machine
from rq import Queue
from sqlmodel import select

from gateway.app import create_app
from gateway.config import Settings
from gateway.db import utcnow
from gateway.messaging import queue_sms
from gateway.messaging.welcome import plan_call
from gateway.models import AuditEvent, Loan, Message, PaymentIntent, VoiceCall
from gateway.providers.africastalking import client as at
from gateway.providers.mpesa import client as mpesa
from gateway.queue import get_redis
from tests.helpers import dial, messages, read, run_jobs, scheduled_at

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)  # 12:00 in Nairobi: no quiet hours
# The clock is frozen (tick=False) while the jobs run: a retry's time, as RQ schedules it, is
# exactly the failure's time plus the backoff, however slow the machine (the stand-ins' "slower
# than the timeout" faults still take real time: sockets and sleeps do not read this clock).
HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"


def run_until_idle(clock, queue_name="default") -> list[float]:
    """Work the queue; each time only retries are left, move the clock to the next one. Returns
    the waits before each retry as RQ scheduled them, in seconds from the failure (frozen clock)."""
    waits = []
    run_jobs(queue_name=queue_name)
    while scheduled_at(queue_name):
        due = scheduled_at(queue_name)[0]
        waits.append((due - dt.datetime.now(dt.UTC)).total_seconds())
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
    with time_machine.travel(T0, tick=False) as clock:
        m = _stored_sms(session, factory)
        waits = run_until_idle(clock)
    [m] = read(session, select(Message).where(Message.id == m.id))
    assert [h["status"] for h in m.status_history] == ["sending", "retrying"] * 2 + ["sending", "failed"]
    final_reason = m.status_history[-1]["reason"]
    assert final_reason.startswith(reason)
    assert (m.status, m.attempts, m.failure_reason) == ("failed", 3, final_reason[:60])
    assert waits == [60, 120]  # SMS_RETRY_BASE_SECONDS doubling
    assert len(at_server.sms) == 3
    assert nothing_left("default")


def test_sms_unreadable_answer_once_then_sent_on_the_retry(at_server, factory, session):
    at_server.sms_replies = [{"body": HTML_502, "ctype": "text/html", "http": 200}]
    with time_machine.travel(T0, tick=False) as clock:
        m = _stored_sms(session, factory)
        waits = run_until_idle(clock)
    [m] = read(session, select(Message).where(Message.id == m.id))
    assert (m.status, m.attempts, m.provider_message_id, m.failure_reason) == ("sent", 2, "ATXid_0002", "")
    assert waits == [60] and len(at_server.sms) == 2 and nothing_left("default")


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


# ---- (b) and (c) M-Pesa Daraja: the OAuth token and the STK push request ----------------------

@pytest.fixture
def stand_in(daraja, monkeypatch):
    """The Daraja stand-in, short timeouts, and the product's push retry policy (2 retries, 5 s base)."""
    monkeypatch.setenv("MPESA_TIMEOUT_SECONDS", "0.3")
    monkeypatch.setenv("MPESA_PUSH_RETRIES", "2")
    monkeypatch.setenv("MPESA_RETRY_BASE_SECONDS", "5")
    mpesa._tokens.clear()  # a fresh worker process: no OAuth token cached from another test's stand-in
    return daraja


def pay_now(factory, session, language="en") -> PaymentIntent:
    """The borrower dials the USSD code and pays what is due: the intent and its push job, exactly
    as the product makes them (with its retry policy)."""
    borrower = factory.borrower(language=language)
    factory.loan(borrower)
    client = create_app(Settings.from_env()).test_client()
    assert dial(client, borrower.phone, "3*1*1", session_id="ATUid_pay").startswith("END ")
    [intent] = read(session, select(PaymentIntent))
    return intent


def audit_trail(session, intent_id) -> list[str]:
    return [e.action for e in read(session, select(AuditEvent).where(AuditEvent.entity == "payment_intent",
                                                                     AuditEvent.entity_id == str(intent_id))
                                   .order_by(AuditEvent.id))]


def intent_loan_ref(session, intent) -> str:
    [loan] = read(session, select(Loan).where(Loan.id == intent.loan_id))
    return loan.account_ref


def daraja_calls(stand_in) -> list[str]:
    return ["oauth" if r["method"] == "GET" else "stk" for r in stand_in.requests]


OAUTH_FAULTS = {
    "truncated JSON": ({"body": '{"access_token": "c9SQxWWhmdVRlyh0zh8gZDTkubVF", "expires'},
                       "bad_reply", "M-Pesa OAuth answered without a usable access_token (HTTP 200, application/json)"),
    "HTML error page with 200": ({"body": HTML_502, "ctype": "text/html"},
                                 "bad_reply",
                                 "M-Pesa OAuth answered without a usable access_token (HTTP 200, text/html)"),
    "a JSON list": ({"body": [{"access_token": "c9SQxWWhmdVRlyh0zh8gZDTkubVF"}]},
                    "bad_reply", "M-Pesa OAuth answered without a usable access_token"),
    "no access_token": ({"body": {"expires_in": "3599"}},
                        "bad_reply", "M-Pesa OAuth answered without a usable access_token"),
    "slower than the timeout": ({"sleep": 1.0}, "unreachable", "M-Pesa OAuth did not answer within 0.3 s"),
}


@pytest.mark.parametrize("fault", OAUTH_FAULTS)
def test_oauth_unreadable_or_late_is_retried_with_backoff_then_the_intent_fails_with_an_sms(
        stand_in, factory, session, fault):
    plan, code, desc = OAUTH_FAULTS[fault]
    stand_in.faults["oauth"] = [plan] * 3
    with time_machine.travel(T0, tick=False) as clock:
        intent = pay_now(factory, session)
        waits = run_until_idle(clock, "payments")
    [intent] = read(session, select(PaymentIntent).where(PaymentIntent.id == intent.id))
    assert (intent.status, intent.result_code) == ("failed", code)
    assert intent.result_desc.startswith(desc)
    assert daraja_calls(stand_in) == ["oauth"] * 3  # never got as far as a push: no prompt on the phone
    assert waits == [5, 10]  # MPESA_RETRY_BASE_SECONDS doubling
    assert audit_trail(session, intent.id) == ["payment_intent.created", "payment_intent.retrying",
                                               "payment_intent.retrying", "payment_intent.failed"]
    reason = "M-Pesa could not be reached" if code == "unreachable" else "M-Pesa did not complete it"
    [sms] = messages(session)
    assert sms.text.startswith(
        f"Jirani Finance: M-Pesa payment of Ksh3,000 for {intent_loan_ref(session, intent)} failed: {reason}.")
    assert nothing_left("payments")


def test_oauth_unreadable_once_then_the_push_goes_out_on_the_retry(stand_in, factory, session):
    stand_in.faults["oauth"] = [{"body": HTML_502, "ctype": "text/html"}]
    with time_machine.travel(T0, tick=False) as clock:
        intent = pay_now(factory, session, language="sw")
        waits = run_until_idle(clock, "payments")
    [intent] = read(session, select(PaymentIntent).where(PaymentIntent.id == intent.id))
    assert (intent.status, intent.checkout_request_id) == ("sent", "ws_CO_191220191020363925")
    assert daraja_calls(stand_in) == ["oauth", "oauth", "stk"] and waits == [5]
    assert messages(session) == []  # no "payment failed" SMS
    assert audit_trail(session, intent.id) == ["payment_intent.created", "payment_intent.retrying",
                                               "payment_intent.sent"]
    assert nothing_left("payments")


STK_FAULTS = {
    "truncated JSON": ({"body": '{"MerchantRequestID": "29115-34620561-1", "CheckoutRequestID": "ws_CO_1'},
                       "bad_reply", "M-Pesa STK push answered HTTP 200 but no JSON object (application/json)"),
    "HTML error page with 200": ({"body": HTML_502, "ctype": "text/html"},
                                 "bad_reply", "M-Pesa STK push answered HTTP 200 but no JSON object (text/html)"),
    "a JSON list": ({"body": [{"ResponseCode": "0", "CheckoutRequestID": "ws_CO_1"}]},
                    "bad_reply", "M-Pesa STK push answered HTTP 200 but no JSON object (application/json)"),
    "no ResponseCode": ({"body": {"MerchantRequestID": "29115-34620561-1"}},
                        "bad_reply", "M-Pesa STK push answered HTTP 200 without a ResponseCode"),
    "accepted without a CheckoutRequestID": ({"body": {"ResponseCode": "0", "ResponseDescription": "Success"}},
                                             "bad_reply", "M-Pesa STK push answered without a CheckoutRequestID"),
    "slower than the timeout": ({"sleep": 1.0}, "unreachable", "M-Pesa STK push did not answer within 0.3 s"),
}


@pytest.mark.parametrize("fault", STK_FAULTS)
def test_stk_push_unreadable_or_late_answer_fails_the_intent_at_once_and_is_never_sent_twice(
        stand_in, factory, session, fault):
    """The request may have reached Safaricom and prompted the phone: sending it again could make
    the borrower pay twice. The intent fails with the reason; the borrower is told by SMS."""
    plan, code, desc = STK_FAULTS[fault]
    stand_in.faults["stk"] = [plan] * 3
    with time_machine.travel(T0, tick=False) as clock:
        intent = pay_now(factory, session, language="sw")
        waits = run_until_idle(clock, "payments")
    [intent] = read(session, select(PaymentIntent).where(PaymentIntent.id == intent.id))
    assert (intent.status, intent.result_code) == ("failed", code)
    assert intent.result_desc.startswith(desc)
    assert daraja_calls(stand_in) == ["oauth", "stk"] and waits == []
    assert audit_trail(session, intent.id) == ["payment_intent.created", "payment_intent.failed"]
    reason = "M-Pesa haikupatikana" if code == "unreachable" else "M-Pesa haikuyakamilisha"
    [sms] = messages(session)
    assert sms.text.startswith(f"Jirani Finance: Malipo ya Ksh 3,000 kwa {intent_loan_ref(session, intent)} "
                               f"hayakufanikiwa: {reason}.")
    assert nothing_left("payments")
