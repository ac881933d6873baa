"""Shared pieces of the payments tests: settings with M-Pesa secrets, a real RQ burst worker,
Safaricom's documented sample payloads, and a local HTTP server speaking Daraja's OAuth and
STK push formats in place of Safaricom (gateway.standins.daraja; the real client calls it)."""
from __future__ import annotations

import json

import pytest
from rq import Queue, SimpleWorker
from sqlmodel import select

from gateway.app import create_app
from gateway.web.auth import issue_token
from gateway.config import Settings
from gateway.models import Agent, LedgerEntry, Message, Payment
from gateway import jobs
from gateway.standins.daraja import DarajaStandIn
from gateway.queue import get_redis

TOKEN = "s3cret-callback-token"
AT_TOKEN = "at-callback-token"
SHORTCODE = "174379"
PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"


@pytest.fixture
def pay_settings(settings, monkeypatch) -> Settings:
    monkeypatch.setenv("MPESA_CALLBACK_TOKEN", TOKEN)
    monkeypatch.setenv("AT_PAYMENTS_CALLBACK_TOKEN", AT_TOKEN)
    monkeypatch.setenv("MPESA_SHORTCODE", SHORTCODE)
    monkeypatch.setenv("MPESA_PASSKEY", PASSKEY)
    monkeypatch.setenv("MPESA_CONSUMER_KEY", "consumer-key")
    monkeypatch.setenv("MPESA_CONSUMER_SECRET", "consumer-secret")
    monkeypatch.setenv("MPESA_CALLBACK_URL", "https://pay.jirani.example")
    return Settings.from_env()


@pytest.fixture
def pay_app(pay_settings):
    return create_app(pay_settings)


@pytest.fixture
def pay_client(pay_app):
    return pay_app.test_client()


def run_payment_jobs() -> None:
    """A real RQ worker, burst mode, on the payments queue only (SMS sends stay queued)."""
    redis = get_redis()
    SimpleWorker([Queue(jobs.POST_PAYMENT.queue, connection=redis)], connection=redis).work(burst=True)


def sms_queue() -> Queue:
    return Queue("default", connection=get_redis())


def queued_sms_ids() -> list[int]:
    return [job.args[0] for job in sms_queue().jobs if job.func_name == "gateway.workers.sms.send_message"]


def c2b(trans_id="RKL51ZDR4F", amount="500.00", bill_ref="SOL1234", msisdn="2547 ***** 126", **extra) -> dict:
    """Safaricom's documented C2B validation/confirmation body."""
    body = {"TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20261121121325",
            "TransAmount": amount, "BusinessShortCode": "600966", "BillRefNumber": bill_ref, "InvoiceNumber": "",
            "OrgAccountBalance": "25.00", "ThirdPartyTransID": "", "MSISDN": msisdn, "FirstName": "NICHOLAS",
            "MiddleName": "", "LastName": ""}
    body.update(extra)
    return body


def stk_success(checkout_id="ws_CO_191220191020363925", receipt="NLJ7RT61SV", amount="500.00",
                phone=254708374149) -> str:
    """Safaricom's documented STK callback, as raw JSON text (amounts are JSON numbers)."""
    return ('{"Body":{"stkCallback":{"MerchantRequestID":"29115-34620561-1","CheckoutRequestID":"%s",'
            '"ResultCode":0,"ResultDesc":"The service request is processed successfully.",'
            '"CallbackMetadata":{"Item":[{"Name":"Amount","Value":%s},{"Name":"MpesaReceiptNumber","Value":"%s"},'
            '{"Name":"Balance"},{"Name":"TransactionDate","Value":20261121102115},'
            '{"Name":"PhoneNumber","Value":%s}]}}}}' % (checkout_id, amount, receipt, phone))


def stk_failure(checkout_id="ws_CO_191220191020363925", code=1032, desc="Request cancelled by user") -> str:
    return json.dumps({"Body": {"stkCallback": {"MerchantRequestID": "29115-34620561-1",
                                                "CheckoutRequestID": checkout_id, "ResultCode": code,
                                                "ResultDesc": desc}}})


def post_callback(client, path, body, token=TOKEN, **kw):
    data = body if isinstance(body, str) else json.dumps(body)
    headers = {"X-Callback-Token": token} if token else {}
    return client.post(path, data=data, content_type="application/json", headers=headers, **kw)


def read(session, statement) -> list:
    """Fresh rows, and the read transaction ended: on SQLite an open transaction holds the write
    lock (BEGIN IMMEDIATE), which would make the worker wait."""
    rows = list(session.exec(statement.execution_options(populate_existing=True)))
    session.commit()
    return rows


def ledger_of(session, payment_id) -> list[tuple[str, int, str]]:
    return [(e.component, e.amount, e.kind) for e in read(
        session, select(LedgerEntry).where(LedgerEntry.payment_id == payment_id).order_by(LedgerEntry.id))]


def payments(session) -> list[Payment]:
    return read(session, select(Payment).order_by(Payment.id))


def messages(session) -> list[Message]:
    return read(session, select(Message).order_by(Message.id))


@pytest.fixture
def manager_token(factory, session) -> str:
    agent = Agent(name="Grace Otieno", phone="+254700000901", role="manager", field_partner_id=factory.partner.id)
    token = issue_token(agent)
    session.add(agent)
    session.commit()
    return token


@pytest.fixture
def field_token(factory, session) -> str:
    agent = Agent(name="Peter Kamau", phone="+254700000902", role="field", field_partner_id=factory.partner.id)
    token = issue_token(agent)
    session.add(agent)
    session.commit()
    return token


@pytest.fixture
def daraja(monkeypatch, pay_settings):
    """The local Daraja stand-in; its STK push reply is fixed to Safaricom's documented sample."""
    stand_in = DarajaStandIn("consumer-key", "consumer-secret").start()
    stand_in.stk_reply = {"MerchantRequestID": "29115-34620561-1", "CheckoutRequestID": "ws_CO_191220191020363925",
                          "ResponseCode": "0", "ResponseDescription": "Success. Request accepted for processing",
                          "CustomerMessage": "Success. Request accepted for processing"}
    monkeypatch.setenv("MPESA_BASE_URL", stand_in.url)
    yield stand_in
    stand_in.stop()
