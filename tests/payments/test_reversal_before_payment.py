"""A reversal that reaches us before its payment waits (no attempt cap) and takes the payment
back the moment it arrives: no receipt, no PAYG code. One left waiting too long is flagged; a
reversal of a payment the borrower was already told about gets them a short SMS."""
import datetime as dt
import json
import threading

import time_machine
from sqlmodel import select

from gateway.models import PaygToken, PendingReversal, RawCallback
from gateway.ops import flags
from gateway.workers import sweeper
from tests.helpers import (
    AT_TOKEN,
    c2b,
    ledger_of,
    messages,
    payg_loan,
    payments,
    post_callback,
    read,
    reversal_result,
    run_payment_jobs,
)

CONFIRM = "/payments/daraja/c2b/confirmation"
REVERSAL = "/payments/daraja/reversal/result"
AT_NOTIFY = "/payments/africastalking/notification"


def at_notification(status, txn_id="ATPid_SampleTxnId123", value="KES 500.0000", account="SOL1234"):
    return {"transactionId": txn_id, "category": "MobileC2B", "provider": "Mpesa", "status": status,
            "value": value, "source": "+254711082300", "clientAccount": account,
            "transactionDate": "2026-11-21T10:00:00Z"}


def test_mpesa_reversal_first_waits_then_takes_the_payment_back_on_arrival(factory, session, pay_client):
    loan = factory.loan(factory.borrower())
    for _ in range(2):  # replayed: waits once
        res = post_callback(pay_client, REVERSAL, reversal_result(original="RKL51ZDR4F"))
        assert res.status_code == 200 and res.get_json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    raws = read(session, select(RawCallback))
    assert [r.status for r in raws] == ["processed", "processed"]  # nothing for the sweeper to retry
    [waiting] = read(session, select(PendingReversal))
    assert (waiting.provider, waiting.original_txn_id, waiting.status) == ("mpesa", "RKL51ZDR4F", "waiting")
    assert sweeper.sweep(older_than_seconds=0)["callbacks_retried"] == 0

    res = post_callback(pay_client, CONFIRM, c2b(trans_id="RKL51ZDR4F", bill_ref=loan.account_ref))
    assert res.status_code == 200
    run_payment_jobs()
    [payment] = payments(session)
    assert payment.status == "reversed" and payment.note == "M-Pesa reversal RKM61ZDR9X"
    assert ledger_of(session, payment.id) == []  # never allocated
    assert messages(session) == []  # no receipt: the borrower never had the money
    [waiting] = read(session, select(PendingReversal))
    assert (waiting.status, waiting.payment_id) == ("matched", payment.id)
    # the payment's replay changes nothing
    post_callback(pay_client, CONFIRM, c2b(trans_id="RKL51ZDR4F", bill_ref=loan.account_ref))
    run_payment_jobs()
    assert [p.status for p in payments(session)] == ["reversed"] and messages(session) == []


def test_at_reversed_before_success_is_matched_too(factory, session, pay_client):
    loan = factory.loan(factory.borrower())
    assert post_callback(pay_client, AT_NOTIFY, at_notification("Reversed"), token=AT_TOKEN).status_code == 200
    assert read(session, select(RawCallback))[0].status == "processed"
    post_callback(pay_client, AT_NOTIFY, at_notification("Success", account=loan.account_ref), token=AT_TOKEN)
    run_payment_jobs()
    [payment] = payments(session)
    assert payment.status == "reversed" and ledger_of(session, payment.id) == [] and messages(session) == []


def test_a_payg_payment_reversed_on_arrival_issues_no_code(factory, session, pay_client):
    _, loan, _ = payg_loan(factory)
    post_callback(pay_client, REVERSAL, reversal_result(original="RKL51ZDR4F"))
    post_callback(pay_client, CONFIRM, c2b(trans_id="RKL51ZDR4F", bill_ref=loan.account_ref, amount="1500"))
    run_payment_jobs()
    assert [p.status for p in payments(session)] == ["reversed"]
    assert read(session, select(PaygToken)) == []
    assert [m.template for m in messages(session)] == ["payg_device_registered"]  # sent when the device was added


def test_a_reversal_left_unmatched_too_long_is_flagged_once(factory, session, pay_client, pay_settings,
                                                             manager_token):
    post_callback(pay_client, REVERSAL, reversal_result(original="RKL51ZDR4F"))
    now = dt.datetime.now(dt.UTC)
    settings = pay_settings.with_(reversal_match_hours=24)
    with time_machine.travel(now + dt.timedelta(hours=23), tick=False):
        assert [f.kind for f in flags.scan(session, now.date(), settings)] == []
    with time_machine.travel(now + dt.timedelta(hours=25), tick=False):
        [flag] = flags.scan(session, now.date(), settings)
        assert flags.scan(session, now.date(), settings) == []  # raised once
    session.commit()
    assert flag.kind == "reversal_unmatched"
    assert "RKL51ZDR4F" in flag.reason and "RKM61ZDR9X" in flag.reason
    listed = pay_client.get("/api/ops/flags", headers={"Authorization": f"Bearer {manager_token}"}).get_json()
    assert [(f["kind"], f["reason"]) for f in listed["flags"]] == [("reversal_unmatched", flag.reason)]


def test_a_reversal_matched_in_time_is_not_flagged(factory, session, pay_client, pay_settings):
    loan = factory.loan(factory.borrower())
    post_callback(pay_client, REVERSAL, reversal_result(original="RKL51ZDR4F"))
    post_callback(pay_client, CONFIRM, c2b(trans_id="RKL51ZDR4F", bill_ref=loan.account_ref))
    now = dt.datetime.now(dt.UTC)
    with time_machine.travel(now + dt.timedelta(days=30), tick=False):
        assert flags.scan(session, now.date(), pay_settings.with_(reversal_match_hours=1)) == []


def receipted_then_reversed(factory, session, pay_client, language):
    loan = factory.loan(factory.borrower(language=language))  # 4 x (500 interest + 2,500 principal)
    post_callback(pay_client, CONFIRM, c2b(bill_ref=loan.account_ref, amount="3000"))
    run_payment_jobs()
    assert len(messages(session)) == 1  # the receipt
    post_callback(pay_client, REVERSAL, reversal_result(original="RKL51ZDR4F"))
    post_callback(pay_client, REVERSAL, reversal_result(original="RKL51ZDR4F"))  # replayed: one SMS
    return messages(session)


def test_a_receipted_payment_reversed_later_tells_the_borrower_in_english(factory, session, pay_client):
    receipt, reversed_sms = receipted_then_reversed(factory, session, pay_client, "en")
    assert receipt.template == "payment_receipt" and reversed_sms.template == "payment_reversed"
    assert reversed_sms.kind == "transactional"
    assert "Ksh3,000" in reversed_sms.text and "reversed" in reversed_sms.text
    assert "Ksh12,000" in reversed_sms.text  # the balance is back to what it was


def test_a_receipted_payment_reversed_later_tells_the_borrower_in_kiswahili(factory, session, pay_client):
    _, reversed_sms = receipted_then_reversed(factory, session, pay_client, "sw")
    assert "Ksh 3,000" in reversed_sms.text and "yamerudishwa" in reversed_sms.text
    assert "Salio Ksh 12,000" in reversed_sms.text


def test_the_reversed_payment_sms_names_no_secret_and_the_raw_body_is_kept(factory, session, pay_client):
    body = json.dumps(reversal_result(original="RKL51ZDR4F"))
    post_callback(pay_client, REVERSAL, body)
    [raw] = read(session, select(RawCallback))
    assert raw.body == body and "waiting" in raw.error


def test_a_reversal_and_its_payment_racing_never_leave_the_payment_posted(factory, session, pay_app):
    """Each pair fired at the same instant from two threads (two web processes in production): the
    per-receipt lock makes one see the other, whichever commits first."""
    loan = factory.loan(factory.borrower())
    receipts = [f"RKRACE{k:04d}" for k in range(8)]

    def fire(path, body, barrier, answers):
        client = pay_app.test_client()
        barrier.wait()
        answers.append(post_callback(client, path, body).status_code)

    for receipt in receipts:
        barrier, answers = threading.Barrier(2), []
        threads = [threading.Thread(target=fire, args=(REVERSAL, reversal_result(original=receipt,
                                                                                 reversal_id=f"RV{receipt[2:]}"),
                                                        barrier, answers)),
                   threading.Thread(target=fire, args=(CONFIRM, c2b(trans_id=receipt, bill_ref=loan.account_ref),
                                                       barrier, answers))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert answers == [200, 200]
    run_payment_jobs()
    assert {p.provider_txn_id: p.status for p in payments(session)} == {r: "reversed" for r in receipts}
    assert messages(session) == [] and all(ledger_of(session, p.id) == [] for p in payments(session))
