"""The issue's "done when": a borrower pays from the USSD menu, M-Pesa (a local Daraja stand-in)
confirms, the payments worker posts the payment, and the SMS carries a code the device accepts."""
import datetime as dt

import openpaygo
import pytest
import time_machine
from openpaygo import TokenType
from rq import Queue
from sqlmodel import select

from gateway import jobs
from gateway.models import Message, PaymentIntent
from gateway.payg import service
from gateway.payg.demo import add_demo_device, demo_secret_key
from gateway.queue import get_redis
from tests.helpers import NOW, codes_in, dial, messages, post_callback, read, run_payment_jobs, stk_success

STK_JOB = "gateway.workers.payments.start_stk_push"


@pytest.fixture(autouse=True)
def clock():
    # Starts at a fixed time and keeps ticking (the RQ worker needs time to pass).
    with time_machine.travel(NOW):
        yield




def test_paying_from_ussd_sends_a_code_the_device_accepts(factory, session, daraja, pay_client):
    borrower = factory.borrower("Grace Achieng", phone="+254708374149", language="en")
    loan = factory.loan(borrower, principal="18000", count=12, rate="0", product="solar home system", prefix="SOL",
                        first_due=dt.date(2030, 1, 1))
    add_demo_device(session, loan, "SHS-E2E-1")  # KSh 50 a day
    session.commit()

    assert dial(pay_client, borrower.phone, "3*2*500*1") == (
        "END You will get an M-Pesa prompt for Ksh500. Enter your PIN to pay.")
    # Only the payments worker runs here, so SMS sends stay queued and are read from the database.
    assert [j.func_name for j in Queue(jobs.POST_PAYMENT.queue, connection=get_redis()).jobs] == [STK_JOB]
    run_payment_jobs()
    assert len(daraja.stk_requests()) == 1
    assert read(session, select(PaymentIntent))[0].status == "sent"

    assert post_callback(pay_client, "/payments/mpesa/stk/callback", stk_success(amount="500.00")).status_code == 200
    run_payment_jobs()

    # one SMS for the payment: the code, which also says the money arrived (no separate receipt)
    assert [m.template for m in messages(session)] == ["payg_device_registered", "payg_token"]
    sms = messages(session)[-1]
    [code] = codes_in(sms.text)
    assert sms.text == (f"Jirani Finance: Ksh500 received. Solar code: {code}. 10 days of light, until 30 Nov 2026. "
                        "To enter: press *, the code, then #.")
    value, kind, count, _ = openpaygo.decode_token(token=code.replace(" ", ""), secret_key=demo_secret_key("SHS-E2E-1"),
                                                   count=0, used_counts=[])
    assert (value, kind, count) == (10, TokenType.ADD_TIME, 2)

    # the same code on the "My last code" screen, and the days on the balance screen
    screen = dial(pay_client, borrower.phone, "7", session_id="ATUid_payg_e2e_2")
    assert screen.startswith(f"CON Your last code: {code}\n")
    assert "Days of light left: 10" in dial(pay_client, borrower.phone, "1", session_id="ATUid_payg_e2e_3")
    assert service.last_code(session, loan).payment_id is not None
    assert session.exec(select(Message).where(Message.template == "payg_last_code")).one()
