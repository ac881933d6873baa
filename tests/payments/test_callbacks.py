"""M-Pesa C2B and Africa's Talking callbacks: stored before answering, posted exactly once by a
real RQ worker, receipted in the borrower's language; bad, forged and duplicate callbacks."""
import json
import threading

import pytest
from sqlmodel import select

from gateway import ledger
from gateway.models import AuditEvent, Installment, RawCallback
from tests.helpers import (
    AT_TOKEN,
    TOKEN,
    c2b,
    ledger_of,
    messages,
    payments,
    post_callback,
    queued_sms_ids,
    read,
    run_payment_jobs,
)

CONFIRM = "/payments/mpesa/c2b/confirmation"
VALIDATE = "/payments/mpesa/c2b/validation"
AT = "/payments/africastalking/notification"


def raw_callbacks(session):
    return read(session, select(RawCallback).order_by(RawCallback.id))


def test_c2b_confirmation_is_stored_answered_then_posted_with_a_receipt(factory, session, pay_client):
    borrower = factory.borrower(language="en")
    loan = factory.loan(borrower)  # 4 x (2,500 principal + 500 interest), first due 1 Dec 2026
    ref = loan.account_ref

    # typed by the payer: lower case with a space
    res = post_callback(pay_client, CONFIRM, c2b(bill_ref=f" {ref[:3].lower()} {ref[3:]}", amount="500.00"))

    assert res.status_code == 200 and res.get_json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    [payment] = payments(session)
    assert (payment.provider, payment.provider_txn_id, payment.amount, payment.status) == (
        "mpesa", "RKL51ZDR4F", 50000, "received")
    assert payment.paid_at.isoformat() == "2026-11-21T09:13:25+00:00"  # 12:13:25 Nairobi
    [raw] = raw_callbacks(session)
    assert (raw.status, raw.payment_id, json.loads(raw.body)["TransID"]) == ("processed", payment.id, "RKL51ZDR4F")

    run_payment_jobs()

    [payment] = payments(session)
    assert (payment.status, payment.loan_id) == ("posted", loan.id)
    assert ledger_of(session, payment.id) == [("interest", 50000, "allocation")]
    [receipt] = messages(session)
    assert receipt.text == f"Jirani Finance: We received Ksh500 for loan {ref}. Balance Ksh11,500. Next due 1 Dec."
    assert (receipt.kind, receipt.dedupe_key, receipt.segments) == ("transactional", f"payment:{payment.id}", 1)
    assert queued_sms_ids() == [receipt.id]
    actions = [a.action for a in read(session, select(AuditEvent).order_by(AuditEvent.id))]
    assert {"callback.processed", "payment.received", "payment.posted", "payment.matched"} <= set(actions)


def test_receipt_in_kiswahili_and_when_the_loan_is_paid_off(factory, session, pay_client):
    sw = factory.loan(factory.borrower(language="sw"), principal="1000", count=1, rate="0")
    en = factory.loan(factory.borrower(language="en"), principal="1000", count=1, rate="0")
    post_callback(pay_client, CONFIRM, c2b(trans_id="RKL51ZDR4A", bill_ref=sw.account_ref, amount="400"))
    post_callback(pay_client, CONFIRM, c2b(trans_id="RKL51ZDR4B", bill_ref=sw.account_ref, amount="600"))
    post_callback(pay_client, CONFIRM, c2b(trans_id="RKL51ZDR4C", bill_ref=en.account_ref, amount="1000"))
    run_payment_jobs()
    assert [m.text for m in messages(session)] == [
        f"Jirani Finance: Tumepokea Ksh 400 kwa mkopo {sw.account_ref}. Salio Ksh 600. Malipo yajayo 1 Des.",
        f"Jirani Finance: Tumepokea Ksh 600 kwa mkopo {sw.account_ref}. Mkopo wako umelipwa wote. Asante!",
        f"Jirani Finance: We received Ksh1,000 for loan {en.account_ref}. Your loan is fully paid. Thank you!",
    ]


def test_replayed_confirmation_posts_once(factory, session, pay_client):
    loan = factory.loan(factory.borrower())
    for _ in range(3):
        res = post_callback(pay_client, CONFIRM, c2b(bill_ref=loan.account_ref))
        assert res.get_json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    run_payment_jobs()
    run_payment_jobs()
    [payment] = payments(session)
    assert payment.status == "posted" and sum(a for _, a, _ in ledger_of(session, payment.id)) == 50000
    assert len(raw_callbacks(session)) == 3 and len(messages(session)) == 1


def test_concurrent_duplicates_from_threads_make_one_payment_and_one_allocation(factory, session, pay_app):
    loan = factory.loan(factory.borrower())
    barrier = threading.Barrier(8)
    replies = []

    def fire():
        client = pay_app.test_client()
        barrier.wait()
        replies.append(post_callback(client, CONFIRM, c2b(bill_ref=loan.account_ref)).status_code)

    threads = [threading.Thread(target=fire) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert replies == [200] * 8
    [payment] = payments(session)
    assert len(raw_callbacks(session)) == 8

    # the allocation job itself, run at once from threads (as by several workers), then by the worker
    from gateway.workers.payments import post_payment
    results = []
    barrier = threading.Barrier(4)

    def allocate():
        barrier.wait()
        results.append(post_payment(payment.id))

    threads = [threading.Thread(target=allocate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run_payment_jobs()
    assert results == ["posted"] * 4
    assert ledger_of(session, payment.id) == [("interest", 50000, "allocation")]
    assert len(messages(session)) == 1


@pytest.mark.parametrize("strict, ref_known, expected", [
    (True, False, {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}),
    (True, True, {"ResultCode": "0", "ResultDesc": "Accepted"}),
    (False, False, {"ResultCode": "0", "ResultDesc": "Accepted"}),
])
def test_validation_rejects_unknown_accounts_only_in_strict_mode(factory, session, settings, monkeypatch,
                                                                 strict, ref_known, expected):
    from gateway.app import create_app
    from gateway.config import Settings
    loan = factory.loan(factory.borrower())
    monkeypatch.setenv("MPESA_CALLBACK_TOKEN", TOKEN)
    monkeypatch.setenv("MPESA_STRICT_VALIDATION", "1" if strict else "0")
    client = create_app(Settings.from_env()).test_client()
    res = post_callback(client, VALIDATE, c2b(bill_ref=loan.account_ref.lower() if ref_known else "NOSUCH99"))
    assert res.status_code == 200 and res.get_json() == expected
    assert payments(session) == []  # validation never creates a payment
    assert [r.kind for r in raw_callbacks(session)] == ["c2b_validation"]


def test_validation_rejects_a_bad_amount(pay_client, session):
    res = post_callback(pay_client, VALIDATE, c2b(amount="-5"))
    assert res.get_json() == {"ResultCode": "C2B00013", "ResultDesc": "Rejected"}


def test_malformed_json_gets_400_and_is_stored(pay_client, session):
    res = post_callback(pay_client, CONFIRM, '{"TransID": "RKL51ZDR4F", "TransAmount": ')
    assert res.status_code == 400 and res.get_json()["error"] == "bad_json"
    [raw] = raw_callbacks(session)
    assert (raw.status, raw.body) == ("rejected", '{"TransID": "RKL51ZDR4F", "TransAmount": ')
    assert "not JSON" in raw.error
    assert payments(session) == []


def test_a_body_with_nul_bytes_gets_400_and_is_kept_readable(pay_client, session):
    # PostgreSQL text cannot hold NUL: this used to answer 503 and store nothing (found by hypothesis).
    res = post_callback(pay_client, CONFIRM, '{"TransID": "RKL5\x001ZDR4F"}')
    assert res.status_code == 400 and res.get_json()["detail"] == "body contains NUL characters"
    [raw] = raw_callbacks(session)
    assert (raw.status, raw.body) == ("rejected", '{"TransID": "RKL5\\x001ZDR4F"}')
    assert payments(session) == []


def test_oversized_body_is_refused_and_kept_truncated(pay_client, session):
    res = post_callback(pay_client, CONFIRM, '{"pad": "' + "x" * 70_000 + '"}')
    assert res.status_code == 413 and res.get_json()["error"] == "too_large"
    [raw] = raw_callbacks(session)
    assert raw.status == "rejected" and len(raw.body) == 64_000


def test_confirmation_without_transaction_id_or_with_a_float_like_amount_is_refused(pay_client, session):
    res = post_callback(pay_client, CONFIRM, c2b(trans_id=""))
    assert res.status_code == 422 and res.get_json() == {"error": "missing_fields", "detail": "missing TransID"}
    res = post_callback(pay_client, CONFIRM, c2b(amount="5.005"))
    assert res.status_code == 422 and res.get_json()["error"] == "bad_amount"
    assert [r.status for r in raw_callbacks(session)] == ["rejected", "rejected"] and payments(session) == []


def test_missing_or_wrong_token_gets_403_and_is_stored(pay_client, session):
    assert post_callback(pay_client, CONFIRM, c2b(), token=None).status_code == 403
    res = post_callback(pay_client, CONFIRM, c2b(), token="guess")
    assert res.status_code == 403
    assert res.get_json() == {"error": "forbidden", "detail": "missing or wrong callback token"}
    # the token may also come in the URL we registered with Safaricom
    assert pay_client.post(f"/payments/daraja/c2b/confirmation?token={TOKEN}", data=json.dumps(c2b()),
                           content_type="application/json").status_code == 200
    assert [r.status for r in raw_callbacks(session)] == ["rejected", "rejected", "processed"]
    assert len(payments(session)) == 1


def test_forged_source_ip_gets_403(settings, monkeypatch, session):
    from gateway.app import create_app
    from gateway.config import Settings
    monkeypatch.setenv("MPESA_CALLBACK_TOKEN", TOKEN)
    monkeypatch.setenv("MPESA_ALLOWED_IPS", "196.201.214.200, 196.201.213.0/24")
    client = create_app(Settings.from_env()).test_client()
    forged = post_callback(client, CONFIRM, c2b(), environ_base={"REMOTE_ADDR": "41.90.1.2"})
    assert forged.status_code == 403 and "41.90.1.2" in forged.get_json()["detail"]
    ok = post_callback(client, CONFIRM, c2b(), environ_base={"REMOTE_ADDR": "196.201.213.44"})
    assert ok.status_code == 200
    raws = raw_callbacks(session)
    assert [(r.status, r.source_ip) for r in raws] == [("rejected", "41.90.1.2"), ("processed", "196.201.213.44")]


def test_callbacks_are_refused_when_no_secret_is_configured(settings, session):
    from gateway.app import create_app
    client = create_app(settings).test_client()
    res = post_callback(client, CONFIRM, c2b())
    assert res.status_code == 403 and "disabled" in res.get_json()["detail"]
    assert [r.status for r in raw_callbacks(session)] == ["rejected"]


def test_unknown_account_goes_to_suspense_and_an_operator_assigns_it(factory, session, pay_client, manager_token,
                                                                     field_token):
    loan = factory.loan(factory.borrower(language="sw"))
    post_callback(pay_client, CONFIRM, c2b(bill_ref="SOL 0000", amount="500"))
    run_payment_jobs()
    [payment] = payments(session)
    assert (payment.status, payment.loan_id) == ("suspense", None)
    assert messages(session) == []  # nothing to say until it is on a loan

    assert pay_client.get("/api/payments/suspense").status_code == 401
    res = pay_client.get("/api/payments/suspense", headers={"Authorization": f"Bearer {field_token}"})
    assert res.status_code == 403
    auth = {"Authorization": f"Bearer {manager_token}"}
    listed = pay_client.get("/api/payments/suspense", headers=auth).get_json()["payments"]
    assert [(p["id"], p["amount"], p["account_ref"], p["payer_phone"]) for p in listed] == [
        (payment.id, 50000, "SOL 0000", "2547 ***** 126")]

    res = pay_client.post(f"/api/payments/{payment.id}/assign", json={"account_ref": "NOPE1"}, headers=auth)
    assert res.status_code == 404 and res.get_json()["error"] == "unknown_loan"
    res = pay_client.post(f"/api/payments/{payment.id}/assign", json={"account_ref": loan.account_ref.lower()},
                          headers=auth)
    assert res.status_code == 200 and res.get_json()["payment"]["status"] == "posted"
    assert ledger_of(session, payment.id) == [("interest", 50000, "allocation")]
    [receipt] = messages(session)
    assert receipt.text == (f"Jirani Finance: Tumepokea Ksh 500 kwa mkopo {loan.account_ref}. Salio Ksh 11,500. "
                            "Malipo yajayo 1 Des.")
    again = pay_client.post(f"/api/payments/{payment.id}/assign", json={"account_ref": loan.account_ref}, headers=auth)
    assert again.status_code == 409
    assert pay_client.get("/api/payments/suspense", headers=auth).get_json()["payments"] == []
    [assigned] = read(session, select(AuditEvent).where(AuditEvent.action == "payment.assigned"))
    assert assigned.actor.startswith("agent:") and assigned.data["account_ref"] == loan.account_ref


def test_operator_refunds_a_suspense_payment(session, pay_client, manager_token, factory):
    post_callback(pay_client, CONFIRM, c2b(bill_ref="WRONG", amount="75"))
    run_payment_jobs()
    [payment] = payments(session)
    auth = {"Authorization": f"Bearer {manager_token}"}
    assert pay_client.post(f"/api/payments/{payment.id}/refund", json={}, headers=auth).status_code == 400
    res = pay_client.post(f"/api/payments/{payment.id}/refund", json={"reason": "sent back to payer"}, headers=auth)
    assert res.status_code == 200 and res.get_json()["payment"]["status"] == "refunded"
    assert ledger_of(session, payment.id) == []
    [refunded] = read(session, select(AuditEvent).where(AuditEvent.action == "payment.refunded"))
    assert refunded.data["reason"] == "sent back to payer"


def at_notification(**overrides):
    """Africa's Talking's (legacy) payment notification as documented."""
    body = {"transactionId": "ATPid_SampleTxnId123", "category": "MobileC2B", "provider": "Mpesa",
            "providerRefId": "SAMPLE_MPESA_CODE", "providerChannel": "525900", "clientAccount": "",
            "productName": "Jirani Loans", "sourceType": "PhoneNumber", "source": "+254711082300",
            "destinationType": "Wallet", "destination": "PaymentWallet", "value": "KES 100.0000",
            "transactionFee": "KES 1.0000", "providerFee": "KES 1.0000", "status": "Success",
            "description": "Received Mobile C2B Payment from +254711082300", "requestMetadata": {},
            "providerMetadata": {}, "transactionDate": "2026-11-21T09:13:25.000Z"}
    body.update(overrides)
    return body


def test_africastalking_notification_posts_the_payment(factory, session, pay_client):
    loan = factory.loan(factory.borrower(language="en"))
    res = post_callback(pay_client, AT, at_notification(clientAccount=loan.account_ref), token=AT_TOKEN)
    assert res.status_code == 200 and res.get_json() == {"status": "accepted"}
    # the M-Pesa token is not the AT token
    assert post_callback(pay_client, AT, at_notification(), token=TOKEN).status_code == 403
    run_payment_jobs()
    [payment] = payments(session)
    assert (payment.provider, payment.provider_txn_id, payment.amount, payment.status) == (
        "africastalking", "ATPid_SampleTxnId123", 10000, "posted")
    assert [m.text for m in messages(session)] == [
        f"Jirani Finance: We received Ksh100 for loan {loan.account_ref}. Balance Ksh11,900. Next due 1 Dec."]


def test_africastalking_payment_matched_by_phone_and_failed_status_ignored(factory, session, pay_client):
    borrower = factory.borrower(phone="+254711082300")
    loan = factory.loan(borrower)
    post_callback(pay_client, AT, at_notification(transactionId="ATPid_failed", status="Failed"), token=AT_TOKEN)
    post_callback(pay_client, AT, at_notification(), token=AT_TOKEN)
    run_payment_jobs()
    [payment] = payments(session)
    assert (payment.provider_txn_id, payment.loan_id) == ("ATPid_SampleTxnId123", loan.id)
    [matched] = read(session, select(AuditEvent).where(AuditEvent.action == "payment.matched"))
    assert matched.data["rule"] == "payer_phone"


def test_wrong_currency_goes_to_suspense_and_cannot_be_assigned(factory, session, pay_client, manager_token):
    loan = factory.loan(factory.borrower())
    res = post_callback(pay_client, AT, at_notification(clientAccount=loan.account_ref, value="UGX 100.0000"),
                        token=AT_TOKEN)
    assert res.status_code == 200
    run_payment_jobs()
    [payment] = payments(session)
    assert (payment.status, payment.currency, payment.amount) == ("suspense", "UGX", 100)
    assert payment.note == f"paid in UGX; loan {loan.account_ref} is in KES"
    res = pay_client.post(f"/api/payments/{payment.id}/assign", json={"account_ref": loan.account_ref},
                          headers={"Authorization": f"Bearer {manager_token}"})
    assert res.status_code == 409 and res.get_json()["error"] == "currency_mismatch"
    assert ledger.installments(session, loan.id)[0].amount_paid == 0
    session.commit()


def test_africastalking_value_must_be_an_amount(pay_client, session):
    res = post_callback(pay_client, AT, at_notification(value="KES one hundred"), token=AT_TOKEN)
    assert res.status_code == 422 and res.get_json()["error"] == "bad_amount"
    assert [r.status for r in raw_callbacks(session)] == ["rejected"]


def test_africastalking_reversed_status_unwinds_the_payment(factory, session, pay_client):
    loan = factory.loan(factory.borrower(), principal="1000", count=1, rate="0")
    post_callback(pay_client, AT, at_notification(clientAccount=loan.account_ref, value="KES 1000.0000"),
                  token=AT_TOKEN)
    run_payment_jobs()
    assert [i.status for i in read(session, select(Installment))] == ["paid"]
    for _ in range(2):  # replayed
        assert post_callback(pay_client, AT, at_notification(status="Reversed"), token=AT_TOKEN).status_code == 200
    [payment] = payments(session)
    assert payment.status == "reversed"
    entries = ledger_of(session, payment.id)
    assert entries == [("principal", 100000, "allocation"), ("principal", -100000, "reversal")]
    [inst] = read(session, select(Installment))
    assert (inst.principal_paid, inst.status) == (0, "pending")
    assert ledger.balance(session, loan, loan.disbursed_on).outstanding == 100000
    session.commit()


def test_database_down_answers_503_so_the_provider_retries(pay_settings):
    from gateway import inbox
    from gateway.providers.callbacks import PAYMENT_CALLBACKS
    down = pay_settings.with_(database_url="postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    handler = PAYMENT_CALLBACKS[("mpesa", "c2b_confirmation")]
    reply = inbox.receive(down, "mpesa", "c2b_confirmation", handler, json.dumps(c2b()), "127.0.0.1", None)
    assert reply.status == 503 and reply.body["error"] == "unavailable"
