"""STK push against a local Daraja stand-in, its callback, and the same receipt arriving by STK
and C2B in either order."""
import base64
import dataclasses
import datetime as dt

import pytest
from rq import Queue, SimpleWorker
from sqlmodel import select

from gateway import jobs, outbox
from gateway.models import PaymentIntent
from gateway.queue import get_redis
from tests.helpers import (
    PASSKEY,
    SHORTCODE,
    TOKEN,
    c2b,
    ledger_of,
    messages,
    payments,
    post_callback,
    read,
    run_payment_jobs,
    stk_failure,
    stk_success,
)

STK = "/payments/mpesa/stk/callback"
CONFIRM = "/payments/mpesa/c2b/confirmation"
CHECKOUT = "ws_CO_191220191020363925"


def new_intent(session, loan, phone, amount=50000, queue=jobs.POST_PAYMENT.queue) -> PaymentIntent:
    """What the USSD "Pay now" step does: store the intent, start the push after commit (without
    its retry policy, so a failure is final at once; retries: faults/test_providers.py)."""
    intent = PaymentIntent(loan_id=loan.id, amount=amount, currency="KES", phone=phone, session_id=f"ATUid_{loan.id}")
    session.add(intent)
    session.flush()
    outbox.after_commit(session, dataclasses.replace(jobs.START_STK_PUSH, queue=queue, retry=lambda s: None), intent.id)
    session.commit()
    return intent


def intent_of(session, intent_id) -> PaymentIntent:
    [intent] = read(session, select(PaymentIntent).where(PaymentIntent.id == intent_id))
    return intent


def test_stk_push_request_is_what_safaricom_documents(factory, session, daraja):
    borrower = factory.borrower(phone="+254708374149")
    loan = factory.loan(borrower, prefix="SOLARHOME")
    intent = new_intent(session, loan, borrower.phone)

    run_payment_jobs()

    oauth, push = daraja.requests
    assert oauth["method"] == "GET" and oauth["path"] == "/oauth/v1/generate?grant_type=client_credentials"
    assert push["headers"]["Authorization"] == f"Bearer {daraja.issued_token}"
    body = push["json"]
    ts = body["Timestamp"]
    assert len(ts) == 14 and dt.datetime.strptime(ts, "%Y%m%d%H%M%S")
    assert base64.b64decode(body["Password"]).decode() == f"{SHORTCODE}{PASSKEY}{ts}"
    assert body == {
        "BusinessShortCode": SHORTCODE, "Password": body["Password"], "Timestamp": ts,
        "TransactionType": "CustomerPayBillOnline", "Amount": 500, "PartyA": "254708374149", "PartyB": SHORTCODE,
        "PhoneNumber": "254708374149",
        "CallBackURL": f"https://pay.jirani.example/payments/daraja/stk/callback?token={TOKEN}",
        "AccountReference": loan.account_ref, "TransactionDesc": f"Loan {loan.account_ref}"[:13],
    }
    assert len(body["AccountReference"]) <= 12 and len(body["TransactionDesc"]) <= 13
    intent = intent_of(session, intent.id)
    assert (intent.status, intent.checkout_request_id, intent.merchant_request_id) == (
        "sent", CHECKOUT, "29115-34620561-1")

    # the job again (a retry, a duplicate enqueue): no second prompt on the borrower's phone
    Queue(jobs.POST_PAYMENT.queue, connection=get_redis()).enqueue("gateway.workers.payments.start_stk_push", intent.id)
    run_payment_jobs()
    assert len(daraja.stk_requests()) == 1


def test_stk_callback_settles_the_intent_and_posts(factory, session, daraja, pay_client):
    borrower = factory.borrower(phone="+254708374149", language="en")
    loan = factory.loan(borrower)
    intent = new_intent(session, loan, borrower.phone)
    run_payment_jobs()

    res = post_callback(pay_client, STK, stk_success())
    assert res.status_code == 200 and res.get_json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    run_payment_jobs()

    [payment] = payments(session)
    assert (payment.provider_txn_id, payment.amount, payment.status, payment.loan_id) == (
        "NLJ7RT61SV", 50000, "posted", loan.id)
    assert payment.payer_phone == "+254708374149"
    intent = intent_of(session, intent.id)
    assert (intent.status, intent.payment_id, intent.result_code) == ("paid", payment.id, "0")
    assert [m.text for m in messages(session)] == [
        f"Jirani Finance: We received Ksh500 for loan {loan.account_ref}. Balance Ksh11,500. Next due 1 Dec."]


def test_stk_then_c2b_for_the_same_receipt_is_one_payment(factory, session, daraja, pay_client):
    borrower = factory.borrower(phone="+254708374149")
    loan = factory.loan(borrower)
    new_intent(session, loan, borrower.phone)
    run_payment_jobs()
    post_callback(pay_client, STK, stk_success())
    post_callback(pay_client, CONFIRM, c2b(trans_id="NLJ7RT61SV", bill_ref=loan.account_ref, amount="500.00"))
    run_payment_jobs()
    [payment] = payments(session)
    assert ledger_of(session, payment.id) == [("interest", 50000, "allocation")]
    assert len(messages(session)) == 1


def test_c2b_then_stk_for_the_same_receipt_is_one_payment(factory, session, daraja, pay_client):
    borrower = factory.borrower(phone="+254708374149")
    loan = factory.loan(borrower)
    intent = new_intent(session, loan, borrower.phone)
    run_payment_jobs()
    post_callback(pay_client, CONFIRM, c2b(trans_id="NLJ7RT61SV", bill_ref=loan.account_ref, amount="500.00"))
    run_payment_jobs()
    post_callback(pay_client, STK, stk_success())
    run_payment_jobs()
    [payment] = payments(session)
    assert payment.status == "posted" and ledger_of(session, payment.id) == [("interest", 50000, "allocation")]
    assert intent_of(session, intent.id).status == "paid"
    assert len(messages(session)) == 1


def test_failed_stk_marks_the_intent_failed_and_tells_the_borrower(factory, session, daraja, pay_client):
    cases = [
        ("en", 1032, "you cancelled it"),
        ("sw", 1032, "uliighairi ombi"),
        ("en", 1037, "your phone could not be reached"),
        ("sw", 1037, "simu yako haikupatikana"),
        ("en", 1, "not enough money in M-Pesa"),
        ("sw", 1, "salio la M-Pesa halitoshi"),
        ("en", 2001, "wrong M-Pesa PIN"),
        ("sw", 2001, "PIN ya M-Pesa si sahihi"),
        ("en", 17, "M-Pesa did not complete it"),
        ("sw", 17, "M-Pesa haikuyakamilisha"),
    ]
    for n, (lang, code, reason) in enumerate(cases):
        borrower = factory.borrower(language=lang)
        loan = factory.loan(borrower)
        intent = new_intent(session, loan, borrower.phone)
        daraja.stk_reply = dict(daraja.stk_reply, CheckoutRequestID=f"ws_CO_{n}")
        run_payment_jobs()
        for _ in range(2):  # Safaricom may send it twice: one SMS
            res = post_callback(pay_client, STK, stk_failure(checkout_id=f"ws_CO_{n}", code=code))
            assert res.status_code == 200
        intent = intent_of(session, intent.id)
        assert (intent.status, intent.result_code) == ("failed", str(code))
        sms = messages(session)[-1]
        ref = loan.account_ref
        if lang == "en":
            assert sms.text == (f"Jirani Finance: M-Pesa payment of Ksh500 for {ref} failed: {reason}. "
                                f"Retry with Pay now or Paybill 600966, account {ref}.")
        else:
            assert sms.text == (f"Jirani Finance: Malipo ya Ksh 500 kwa {ref} hayakufanikiwa: {reason}. Jaribu tena "
                                f"kwa Lipa sasa au Paybill 600966, akaunti {ref}.")
        assert sms.encoding == "GSM-7" and sms.segments == 1
    assert len(messages(session)) == len(cases) and payments(session) == []


def test_push_refused_by_safaricom_fails_the_intent_with_an_sms(factory, session, daraja):
    borrower = factory.borrower(language="en")
    loan = factory.loan(borrower)
    daraja.stk_status = 500
    daraja.stk_reply = {"requestId": "1234-5678", "errorCode": "500.001.1001",
                        "errorMessage": "Unable to lock subscriber"}
    intent = new_intent(session, loan, borrower.phone)
    run_payment_jobs()
    intent = intent_of(session, intent.id)
    assert (intent.status, intent.result_code) == ("failed", "500.001.1001")
    assert "Unable to lock subscriber" in intent.result_desc
    [sms] = messages(session)
    assert sms.text.startswith(
        f"Jirani Finance: M-Pesa payment of Ksh500 for {loan.account_ref} failed: M-Pesa did not complete it.")


def test_unreachable_mpesa_fails_the_intent(factory, session, pay_settings, monkeypatch):
    monkeypatch.setenv("MPESA_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    borrower = factory.borrower(language="sw")
    loan = factory.loan(borrower)
    intent = new_intent(session, loan, borrower.phone)
    run_payment_jobs()
    assert intent_of(session, intent.id).status == "failed"
    assert "hayakufanikiwa: M-Pesa haikupatikana." in messages(session)[0].text


def test_stk_callback_with_bad_body_is_refused_and_kept(pay_client, session, daraja):
    res = post_callback(pay_client, STK, {"Body": {}})
    assert res.status_code == 422 and res.get_json()["error"] == "not_stk_callback"
    res = post_callback(pay_client, STK, '{"Body":{"stkCallback":{"CheckoutRequestID":"x","ResultCode":0}}}')
    assert res.status_code == 422 and res.get_json()["error"] == "missing_fields"
    assert payments(session) == []


def test_stand_in_plays_the_borrower_against_the_running_gateway(factory, session, pay_app, monkeypatch):
    """The demo path (`gateway payments stand-in`): real HTTP both ways, the stand-in calls our
    callback URL after the push, as Safaricom would once the PIN is entered."""
    import threading as _threading

    from werkzeug.serving import make_server

    from gateway.standins.daraja import DarajaStandIn

    web = make_server("127.0.0.1", 0, pay_app, threaded=True)
    _threading.Thread(target=web.serve_forever, daemon=True).start()
    # Safaricom calls back seconds after the push; the delay keeps that order (ids stored first).
    stand_in = DarajaStandIn("consumer-key", "consumer-secret", auto_callback=True, callback_delay=0.3).start()
    monkeypatch.setenv("MPESA_BASE_URL", stand_in.url)
    monkeypatch.setenv("MPESA_CALLBACK_URL", f"http://127.0.0.1:{web.server_port}")
    try:
        borrower = factory.borrower(phone="+254708374149")
        loan = factory.loan(borrower)
        intent = new_intent(session, loan, borrower.phone, amount=300000)
        run_payment_jobs()
        assert stand_in.callback_done.acquire(timeout=30)
        [(receipt, status)] = stand_in.callbacks_sent
        assert status == 200
        run_payment_jobs()
        [payment] = payments(session)
        assert (payment.provider_txn_id, payment.amount, payment.status) == (receipt, 300000, "posted")
        assert intent_of(session, intent.id).status == "paid"
    finally:
        stand_in.stop()
        web.shutdown()


@pytest.mark.parametrize("push_queue", ["payments", "later"])
def test_callback_arriving_before_the_push_job_stored_its_ids_still_settles_the_intent(
        factory, session, daraja, pay_client, push_queue):
    borrower = factory.borrower(phone="+254708374149", language="en")
    loan = factory.loan(borrower)
    factory.loan(borrower)  # two active loans: the phone alone cannot say which
    intent = new_intent(session, loan, borrower.phone, queue=push_queue)
    # Safaricom is faster than our job: the callback comes before CheckoutRequestID is stored
    assert post_callback(pay_client, STK, stk_success()).status_code == 200
    [payment] = payments(session)
    assert payment.account_ref == ""
    # "payments": the push job runs first; "later": allocation runs first and finds no loan
    run_payment_jobs()
    if push_queue == "later":
        assert payments(session)[0].status == "suspense"
        redis = get_redis()
        SimpleWorker([Queue("later", connection=redis)], connection=redis).work(burst=True)
        run_payment_jobs()
    [payment] = payments(session)
    assert (payment.status, payment.loan_id, payment.account_ref) == ("posted", loan.id, loan.account_ref)
    assert intent_of(session, intent.id).status == "paid"
    assert ledger_of(session, payment.id) == [("interest", 50000, "allocation")]
    assert len(messages(session)) == 1


def test_stk_callback_and_c2b_confirmation_at_the_same_moment_are_one_payment(factory, session, daraja, pay_app):
    import threading

    borrower = factory.borrower(phone="+254708374149")
    loan = factory.loan(borrower)
    intent = new_intent(session, loan, borrower.phone)
    run_payment_jobs()
    barrier = threading.Barrier(6)
    bodies = [(STK, stk_success())] * 3 + [(CONFIRM, c2b(trans_id="NLJ7RT61SV", bill_ref=loan.account_ref))] * 3
    codes = []

    def fire(path, body):
        client = pay_app.test_client()
        barrier.wait()
        codes.append(post_callback(client, path, body).status_code)

    threads = [threading.Thread(target=fire, args=b) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run_payment_jobs()
    assert codes == [200] * 6
    [payment] = payments(session)
    assert ledger_of(session, payment.id) == [("interest", 50000, "allocation")]
    assert intent_of(session, intent.id).payment_id == payment.id
    assert len(messages(session)) == 1


def test_register_c2b_urls_with_the_token_and_the_daraja_paths(daraja):
    from click.testing import CliRunner

    from gateway.cli import main

    result = CliRunner().invoke(main, ["payments", "register-c2b"])
    assert result.exit_code == 0, result.output
    [register] = [r for r in daraja.requests if r["path"] == "/mpesa/c2b/v2/registerurl"]
    assert register["json"] == {
        "ShortCode": SHORTCODE, "ResponseType": "Completed",
        "ConfirmationURL": f"https://pay.jirani.example/payments/daraja/c2b/confirmation?token={TOKEN}",
        "ValidationURL": f"https://pay.jirani.example/payments/daraja/c2b/validation?token={TOKEN}"}
    assert "mpesa" not in register["json"]["ConfirmationURL"].lower()  # Safaricom filters such URLs
