"""Hostile input: a clear 4xx, kept for review as rejected, never retried, never posted.
Receipts are non-blank strings of the provider's shape; amounts are ASCII decimals with at most
two places, positive, and not above the rail's maximum (MPESA_MAX_AMOUNT, AT_PAYMENTS_MAX_AMOUNT)."""
import json

import pytest
from sqlmodel import select

from gateway import inbox
from gateway.models import RawCallback, RejectedCallback
from tests.helpers import AT_TOKEN, c2b, payments, post_callback, read, reversal_result, stk_success

CONFIRM = "/payments/daraja/c2b/confirmation"
STK = "/payments/daraja/stk/callback"
REVERSAL = "/payments/daraja/reversal/result"
AT_NOTIFY = "/payments/africastalking/notification"


def refused_and_kept(res, session, status=422):
    assert res.status_code == status, res.get_data(as_text=True)
    assert res.is_json and res.get_json()["error"] and res.get_json()["detail"]
    [raw] = read(session, select(RawCallback))
    assert raw.status == "rejected" and raw.error
    assert inbox.failed_ids(session) == []  # nothing for the sweeper to retry
    assert payments(session) == []
    return raw


def test_deeply_nested_json_is_refused(pay_client, session):
    body = '{"TransID": ' + "[" * 5000 + "]" * 5000 + "}"
    raw = refused_and_kept(post_callback(pay_client, CONFIRM, body), session, 400)
    assert raw.body == body


def test_a_lone_surrogate_is_refused(pay_client, session):
    body = json.dumps(c2b()).replace('"SOL1234"', '"SOL\\ud800"')
    raw = refused_and_kept(post_callback(pay_client, CONFIRM, body), session, 400)
    assert raw.body == body


@pytest.mark.parametrize("trans_id", ["R" * 5000, "   ", {"a": 1}, ["RKL51ZDR4F"], 1234567890, "RKL51ZDR4",
                                      "RKL-1ZDR4F", "RKL51 ZDR4", "ＲＫＬ５１ＺＤＲ４Ｆ"])
def test_a_receipt_not_shaped_like_an_mpesa_receipt_is_refused(pay_client, session, trans_id):
    res = post_callback(pay_client, CONFIRM, c2b(trans_id=trans_id))
    refused_and_kept(res, session)
    assert res.get_json()["error"] in ("bad_receipt", "missing_fields")


@pytest.mark.parametrize("amount", ["99999999999999.99", "250000.01", "1e5", "1E5", "१००", "１００", "100.005",
                                    "100.001", "-5", "0", "0.00", " ", "NaN", "Infinity", "1,000", "+100", "0x10", True,
                                    {"v": 1}])
def test_an_amount_that_is_not_a_plain_decimal_within_the_limit_is_refused(pay_client, session, amount):
    res = post_callback(pay_client, CONFIRM, c2b(amount=amount))
    refused_and_kept(res, session)


@pytest.mark.parametrize("amount", ["250000", "250000.00", "0.01", "1", "1.5", " 500.00 "])
def test_plain_amounts_up_to_the_limit_are_accepted(pay_client, session, amount):
    assert post_callback(pay_client, CONFIRM, c2b(amount=amount)).status_code == 200
    assert len(payments(session)) == 1


def test_the_maximum_is_a_setting(pay_client, session, monkeypatch, pay_settings):
    from gateway.app import create_app
    client = create_app(pay_settings.with_(mpesa_max_amount=1000)).test_client()
    refused_and_kept(post_callback(client, CONFIRM, c2b(amount="1000.01")), session)


@pytest.mark.parametrize("amount", ["1e5", "99999999999999.99", "100.001"])
def test_stk_amounts_are_held_to_the_same_rule(pay_client, session, amount):
    refused_and_kept(post_callback(pay_client, STK, stk_success(amount=amount)), session)


def test_an_stk_receipt_of_another_shape_is_refused(pay_client, session):
    refused_and_kept(post_callback(pay_client, STK, stk_success(receipt="   ")), session)


def test_stk_metadata_that_is_not_an_object_is_refused(pay_client, session):
    body = {"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": 0, "CallbackMetadata": "x"}}}
    refused_and_kept(post_callback(pay_client, STK, body), session)


@pytest.mark.parametrize("params", ["OriginalTransactionID=RKL51ZDR4F", ["x"], {"ResultParameter": "x"}, 5])
def test_a_reversal_whose_result_parameters_are_not_objects_is_refused(pay_client, session, params):
    body = reversal_result()
    body["Result"]["ResultParameters"] = params
    refused_and_kept(post_callback(pay_client, REVERSAL, body), session)


@pytest.mark.parametrize("field,value", [("original", "R" * 5000), ("original", "   "), ("reversal_id", "R" * 5000)])
def test_a_reversal_naming_ids_of_another_shape_is_refused(pay_client, session, field, value):
    refused_and_kept(post_callback(pay_client, REVERSAL, reversal_result(**{field: value})), session)


def at_body(**changes):
    body = {"transactionId": "ATPid_SampleTxnId123", "category": "MobileC2B", "provider": "Mpesa",
            "status": "Success", "value": "KES 500.0000", "source": "+254711082300", "clientAccount": "SOL1234"}
    body.update(changes)
    return body


@pytest.mark.parametrize("changes", [dict(transactionId="   "), dict(transactionId={"a": 1}),
                                     dict(transactionId="x" * 5000), dict(value="KES 99999999999999.99"),
                                     dict(value="KES 1e5"), dict(value="KES १००"), dict(value="KES 100.0050")])
def test_at_payment_notifications_are_held_to_the_same_rules(pay_client, session, changes):
    res = post_callback(pay_client, AT_NOTIFY, at_body(**changes), token=AT_TOKEN)
    refused_and_kept(res, session)


def test_at_four_place_values_are_accepted(pay_client, session):
    assert post_callback(pay_client, AT_NOTIFY, at_body(), token=AT_TOKEN).status_code == 200
    assert [p.amount for p in payments(session)] == [50000]


@pytest.mark.parametrize("path,form", [
    ("/sms/delivery-report", {"id": "ATXid_1\x00", "status": "Success", "phoneNumber": "+254712345678"}),
    ("/sms/inbound", {"from": "+254712345678", "to": "22384", "text": "SALIO\x00", "id": "x1", "date": "2026-11-21"}),
    ("/voice/welcome", {"sessionId": "ATVId_1", "isActive": "1\x00", "callerNumber": "+254712345678"}),
    ("/sms/opt-out", {"phoneNumber": "+254712\x00345678", "senderId": "JIRANI"}),
])
def test_nul_bytes_in_africas_talking_forms_get_400_and_are_kept_readable(pay_client, session, path, form):
    res = pay_client.post(path, data=form)
    assert res.status_code == 400 and res.get_json()["detail"] == "form contains NUL characters"
    [kept] = read(session, select(RejectedCallback))
    assert "\x00" not in json.dumps(kept.payload) and "\\x00" in json.dumps(kept.payload)
