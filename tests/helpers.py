"""Plain helpers shared by the tests of several domains (fixtures live in the conftest.py files):
dialling the USSD webhook as Africa's Talking does, posting payments through the real ledger,
running queued RQ jobs with a real burst worker, Safaricom's documented sample payloads, reading
rows fresh, a PAYG device that checks codes as the firmware would, and staff credentials."""
from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import time
from zoneinfo import ZoneInfo

import openpaygo
import time_machine
from openpaygo import TokenType
from rq import Queue, SimpleWorker
from sqlmodel import select

from gateway import jobs, ledger
from gateway.models import Agent, LedgerEntry, Message, Payment
from gateway.payg.demo import add_demo_device, demo_secret_key
from gateway.queue import get_redis
from gateway.web.auth import issue_token
from gateway.web.console_session import set_password
from gateway.workers.reminders import plan_reminders

UTC = dt.UTC
NAIROBI = ZoneInfo("Africa/Nairobi")
NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # 12:00 in Nairobi: the `frozen_clock` fixture's time

# Secrets the `pay_settings` fixture configures, and M-Pesa's documented sandbox shortcode and passkey.
TOKEN = "s3cret-callback-token"
AT_TOKEN = "at-callback-token"
SHORTCODE = "174379"
PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"


# -- reading what the app and the workers stored ---------------------------------------------------

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


# -- the borrower's channels and the ledger ----------------------------------------------------------

_sessions = itertools.count(1)


def dial(client, phone, text="", session_id=None):
    """One hop: POST the form AT sends; the reply must be a 200 text/plain USSD screen."""
    res = client.post("/ussd", data={"sessionId": session_id or f"ATUid_test_{next(_sessions)}",
                                     "serviceCode": "*384*1234#", "phoneNumber": phone, "networkCode": "63902",
                                     "text": text})
    assert res.status_code == 200 and res.mimetype == "text/plain"
    return res.get_data(as_text=True)


def pay(session, loan, amount_minor: int, txn: str, provider: str = "mpesa") -> Payment:
    """A payment of `amount_minor` (M-Pesa unless said), stored and posted to the loan, committed."""
    payment = Payment(provider=provider, provider_txn_id=txn, amount=amount_minor, currency=loan.currency)
    session.add(payment)
    session.flush()
    ledger.post_payment(session, payment, loan.id)
    session.commit()
    return payment


def pay_on(session, loan, amount, day, txn, hour=10):
    """Post a payment as if it arrived on `day` (the ledger entries carry that time)."""
    with time_machine.travel(dt.datetime.combine(day, dt.time(hour), tzinfo=UTC), tick=False):
        return pay(session, loan, amount, txn, provider="manual")


def staff(session, factory, role, name=None, phone=None):
    """An agent of `role` with an API token: (agent, the Authorization header)."""
    agent = Agent(name=name or f"{role} agent", phone=phone or f"+2547220{len(role)}{factory._phone % 1000:03d}",
                  role=role, field_partner_id=factory.partner.id)
    factory._phone += 1
    token = issue_token(agent)
    session.add(agent)
    session.commit()
    return agent, {"Authorization": f"Bearer {token}"}


# -- RQ: real workers in burst mode -------------------------------------------------------------------

def run_jobs(max_rounds: int = 20, queue_name: str = "default") -> None:
    """Move due scheduled jobs (RQ `enqueue_at`, retries) into the queue and work it, until idle.
    Scheduled jobs whose time has not come (by the possibly travelled clock) stay scheduled."""
    queue = Queue(queue_name, connection=get_redis())
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


def run_payment_jobs() -> None:
    """A real RQ worker, burst mode, on the payments queue only (SMS sends stay queued)."""
    redis = get_redis()
    SimpleWorker([Queue(jobs.POST_PAYMENT.queue, connection=redis)], connection=redis).work(burst=True)


def queued_sms_ids() -> list[int]:
    return [job.args[0] for job in Queue("default", connection=get_redis()).jobs
            if job.func_name == "gateway.workers.sms.send_message"]


# -- reminders ------------------------------------------------------------------------------------------

def at_local(day: dt.date, hour: int, minute: int = 0, tz=NAIROBI) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)


def sent(session):
    """(local date, template, text) of every SMS the stand-in received, via our Message rows."""
    rows = read(session, select(Message).where(Message.status == "sent").order_by(Message.id))
    return [(m.sent_at.astimezone(NAIROBI).date(), m.template, m.text) for m in rows]


def walk(session, first: dt.date, last: dt.date, hour=10):
    """Each day from `first` to `last` at `hour` Nairobi time: plan the reminders, send them."""
    day = first
    while day <= last:
        with time_machine.travel(at_local(day, hour), tick=True):
            plan_reminders()
            run_jobs()
        day += dt.timedelta(days=1)


# -- M-Pesa's documented payloads ------------------------------------------------------------------------

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
    # %-formatting: the braces of the JSON would all need doubling for str.format or an f-string.
    return ('{"Body":{"stkCallback":{"MerchantRequestID":"29115-34620561-1","CheckoutRequestID":"%s",'  # noqa: UP031
            '"ResultCode":0,"ResultDesc":"The service request is processed successfully.",'
            '"CallbackMetadata":{"Item":[{"Name":"Amount","Value":%s},{"Name":"MpesaReceiptNumber","Value":"%s"},'
            '{"Name":"Balance"},{"Name":"TransactionDate","Value":20261121102115},'
            '{"Name":"PhoneNumber","Value":%s}]}}}}' % (checkout_id, amount, receipt, phone))


def stk_failure(checkout_id="ws_CO_191220191020363925", code=1032, desc="Request cancelled by user") -> str:
    return json.dumps({"Body": {"stkCallback": {"MerchantRequestID": "29115-34620561-1",
                                                "CheckoutRequestID": checkout_id, "ResultCode": code,
                                                "ResultDesc": desc}}})



def reversal_result(original="RKL51ZDR4F", reversal_id="RKM61ZDR9X", code=0):
    """Daraja Reversal API result, sent to our ResultURL."""
    return {"Result": {
        "ResultType": 0, "ResultCode": code, "ResultDesc": "The service request is processed successfully.",
        "OriginatorConversationID": "f1e2-4b95-a71d-b30d3cdbb7a7942864",
        "ConversationID": "AG_20261121_20106f1d2f1a3d4b5c6d",
        "TransactionID": reversal_id,
        "ResultParameters": {"ResultParameter": [
            {"Key": "DebitAccountBalance", "Value": "Utility Account|KES|51661.00|51661.00|0.00|0.00"},
            {"Key": "Amount", "Value": 3000.00}, {"Key": "TransCompletedTime", "Value": 20261122063845},
            {"Key": "OriginalTransactionID", "Value": original}, {"Key": "Charge", "Value": 0.00},
            {"Key": "CreditPartyPublicName", "Value": "254708374149 - John Doe"},
            {"Key": "DebitPartyPublicName", "Value": "600966 - Jirani Finance"}]},
        "ReferenceData": {"ReferenceItem": {"Key": "QueueTimeoutURL", "Value": "https://internalsandbox.safaricom.co.ke/mpesa/reversalresults/v1/submit"}},
    }}


def post_callback(client, path, body, token=TOKEN, **kw):
    data = body if isinstance(body, str) else json.dumps(body)
    headers = {"X-Callback-Token": token} if token else {}
    return client.post(path, data=data, content_type="application/json", headers=headers, **kw)


# -- PAYG: the device side ---------------------------------------------------------------------------------

CODE = re.compile(r"\b\d{3}(?: \d{3}){2,4}\b")  # a grouped 9- or 15-digit code in an SMS


class KeypadDevice:
    """The device side, checking codes with openpaygo.decode_token exactly as the firmware would:
    its own count and used counts, days of light, unlocked flag."""

    def __init__(self, secret_key: str, restricted_digits: bool = False, starting_code: int | None = None):
        self.key, self.restricted, self.starting_code = secret_key, restricted_digits, starting_code
        self.count, self.used, self.days, self.unlocked = 0, [], 0, False

    def enter(self, code: str):
        value, kind, count, used = openpaygo.decode_token(
            token=code.replace(" ", ""), secret_key=self.key, count=self.count, used_counts=self.used,
            starting_code=self.starting_code, restricted_digit_set=self.restricted)
        if kind == TokenType.ADD_TIME:
            self.days += value
        elif kind == TokenType.DISABLE_PAYG:
            self.unlocked = True
        if count is not None:
            self.count = max(self.count, count)
            self.used = used if used is not None else sorted(set(self.used) | {count})
        return kind, value


def payg_loan(factory, language="en", principal="18000", count=12, rate="50", restricted=False, serial="SOL-0001"):
    borrower = factory.borrower(language=language)
    loan = factory.loan(borrower, principal=principal, count=count, rate="0", product="solar home system",
                        prefix="SOL")
    add_demo_device(factory.session, loan, serial, daily_rate=rate, restricted_digits=restricted)
    factory.session.commit()
    return borrower, loan, KeypadDevice(demo_secret_key(serial), restricted_digits=restricted)


def sms_for(session, payment: Payment) -> Message:
    return session.exec(select(Message).where(Message.dedupe_key == f"payment:{payment.id}")).one()


def codes_in(text: str) -> list[str]:
    return CODE.findall(text)


# -- the operator console ---------------------------------------------------------------------------

PASSWORD = "correct horse battery"


def make_staff(session, factory, role, name, phone):
    agent = Agent(name=name, phone=phone, role=role, field_partner_id=factory.partner.id)
    set_password(agent, PASSWORD)
    session.add(agent)
    session.commit()
    return agent


def token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, phone, password=PASSWORD):
    page = client.get("/ops/login").get_data(as_text=True)
    return client.post("/ops/login", data={"phone": phone, "password": password, "csrf_token": token(page)})
