"""Safaricom M-Pesa Daraja callbacks: C2B validation and confirmation, STK push results and
reversal results, turned into payments events (gateway.payments.events) and answered in
Daraja's format. Wire format: shared/providers.md."""
from __future__ import annotations

import datetime as dt
import re

from sqlmodel import Session, select

from gateway.config import Settings
from gateway.inbox import CallbackRejected, Handler
from gateway.models import CallbackStatus, PaymentIntent, RawCallback
from gateway.payments import intents, matching, posting, reversals
from gateway.payments.events import Incoming, PromptResult, Reversal
from gateway.providers.mpesa.client import NAIROBI
from gateway.providers.parsing import amount, json_body, obj, payer_phone, provider_id, required

PROVIDER = "mpesa"
ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}
STK_CALLBACK_PATH = "/payments/daraja/stk/callback"  # Safaricom blocks URLs containing "mpesa"


def nairobi_time(value) -> dt.datetime | None:
    """M-Pesa's YYYYMMDDHHMMSS, Kenyan local time -> UTC."""
    try:
        local = dt.datetime.strptime(str(value).strip(), "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return local.replace(tzinfo=NAIROBI).astimezone(dt.UTC)


RECEIPT = re.compile(r"[A-Z0-9]{10}")  # M-Pesa receipt numbers: "RKL51ZDR4F"


def receipt(value, name: str) -> str:
    """An M-Pesa receipt (or reversal) number: ten ASCII letters and digits, kept upper-case."""
    return provider_id(value.upper() if isinstance(value, str) and value.isascii() else value, name, RECEIPT)


def _typed(value) -> str:
    """A field the payer or the sender typed, as text PostgreSQL can hold: a NUL written out as "\\x00" (the
    payment is kept, and goes to suspense when it names no loan or no lender's shortcode)."""
    return str(value or "").replace("\x00", "\\x00").strip()


def _c2b_incoming(body: dict, settings: Settings) -> Incoming:
    required(body, "TransID", "TransAmount")
    return Incoming(provider=PROVIDER, txn_id=receipt(body["TransID"], "TransID"),
                    amount=amount(body["TransAmount"], "KES", settings.mpesa_max_amount), currency="KES",
                    payer_phone=payer_phone(body.get("MSISDN")),
                    account_ref=_typed(body.get("BillRefNumber")), paid_at=nairobi_time(body.get("TransTime")),
                    shortcode=_typed(body.get("BusinessShortCode"))[:20])


def c2b_validation(session: Session, raw: RawCallback, settings: Settings) -> dict:
    """Safaricom asks whether to accept a paybill payment before it completes."""
    body = json_body(raw)
    try:
        incoming = _c2b_incoming(body, settings)
    except CallbackRejected as exc:
        raw.error = exc.detail
        code = "C2B00013" if exc.error == "bad_amount" else "C2B00016"
        return {"ResultCode": code, "ResultDesc": "Rejected"}
    if settings.mpesa_strict_validation:
        lender_id, unknown = matching.lender_of_shortcode(session, incoming.shortcode)
        if unknown or not matching.account_exists(session, incoming.account_ref, lender_id):
            raw.error = unknown or f"unknown account number {incoming.account_ref!r}"
            return {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}
    return {"ResultCode": "0", "ResultDesc": "Accepted"}


def c2b_confirmation(session: Session, raw: RawCallback, settings: Settings) -> dict:
    payment, _ = posting.record_payment(session, _c2b_incoming(json_body(raw), settings), actor=PROVIDER)
    raw.payment_id = payment.id
    return ACCEPTED


def _metadata(callback: dict) -> dict:
    """CallbackMetadata.Item[] -> {Name: Value}; items without a Value (e.g. Balance) are skipped."""
    items = obj(callback.get("CallbackMetadata"), "CallbackMetadata").get("Item") or []
    if not isinstance(items, list):
        raise CallbackRejected(422, "bad_metadata", "CallbackMetadata.Item must be a list")
    return {str(i.get("Name")): i.get("Value") for i in items if isinstance(i, dict) and i.get("Value") is not None}


def _prompt_result(body: dict, settings: Settings) -> PromptResult:
    callback = (body.get("Body") or {}).get("stkCallback") if isinstance(body.get("Body"), dict) else None
    if not isinstance(callback, dict):
        raise CallbackRejected(422, "not_stk_callback", "expected Body.stkCallback")
    required(callback, "CheckoutRequestID", "ResultCode")
    try:
        result_code = str(int(callback["ResultCode"]))
    except (TypeError, ValueError):
        raise CallbackRejected(422, "bad_result_code", f"ResultCode {callback['ResultCode']!r}") from None
    payment = None
    if result_code == "0":
        meta = _metadata(callback)
        required(meta, "MpesaReceiptNumber", "Amount")
        payment = Incoming(provider=PROVIDER, txn_id=receipt(meta["MpesaReceiptNumber"], "MpesaReceiptNumber"),
                           amount=amount(meta["Amount"], "KES", settings.mpesa_max_amount), currency="KES",
                           payer_phone=payer_phone(meta.get("PhoneNumber")),
                           paid_at=nairobi_time(meta.get("TransactionDate")))
    return PromptResult(str(callback["CheckoutRequestID"]), result_code, str(callback.get("ResultDesc") or ""),
                        payment)


def stk_callback(session: Session, raw: RawCallback, settings: Settings) -> dict:
    """Settles the payment intent: paid with a payment, or failed with an SMS to the borrower."""
    intents.settle_prompt(session, raw, _prompt_result(json_body(raw), settings))
    return ACCEPTED


def settle_early_stk_callbacks(session: Session, settings: Settings, intent: PaymentIntent) -> int:
    """Callbacks for this intent's CheckoutRequestID that arrived before we stored it."""
    early = session.exec(select(RawCallback).where(
        RawCallback.provider == PROVIDER, RawCallback.kind == "stk_callback",
        RawCallback.status == CallbackStatus.processed,
        RawCallback.error == intents.UNKNOWN_CHECKOUT,
        RawCallback.body.contains(intent.checkout_request_id))).all()
    for raw in early:
        raw.error = ""
        stk_callback(session, raw, settings)
        session.add(raw)
    return len(early)


def reversal_result(session: Session, raw: RawCallback, settings: Settings) -> dict:
    """Daraja Reversal API result: {"Result": {ResultCode, TransactionID, ResultParameters: ...}}."""
    body = json_body(raw)
    result = body.get("Result")
    if not isinstance(result, dict):
        raise CallbackRejected(422, "not_reversal_result", "expected Result")
    required(result, "ResultCode", "TransactionID")
    if str(result["ResultCode"]) != "0":
        raw.error = f"reversal not done by M-Pesa: {result.get('ResultDesc', '')}"[:500]
        return ACCEPTED
    params = obj(result.get("ResultParameters"), "ResultParameters").get("ResultParameter") or []
    if isinstance(params, dict):
        params = [params]
    if not isinstance(params, list) or not all(isinstance(p, dict) for p in params):
        raise CallbackRejected(422, "bad_field", "ResultParameters.ResultParameter must be objects")
    values = {str(p.get("Key")): p.get("Value") for p in params}
    required(values, "OriginalTransactionID")
    original = receipt(values["OriginalTransactionID"], "OriginalTransactionID")
    reversal_id = receipt(result["TransactionID"], "TransactionID")
    reversals.reverse_reported(session, raw, Reversal(PROVIDER, original, reversal_id,
                                                      f"M-Pesa reversal {reversal_id}"))
    return ACCEPTED


HANDLERS = {
    (PROVIDER, "c2b_validation"): Handler(c2b_validation, ACCEPTED),
    (PROVIDER, "c2b_confirmation"): Handler(c2b_confirmation, ACCEPTED),
    (PROVIDER, "stk_callback"): Handler(stk_callback, ACCEPTED),
    (PROVIDER, "reversal_result"): Handler(reversal_result, ACCEPTED),
}


def stk_callback_url(settings: Settings) -> str:
    return f"{settings.mpesa_callback_url}{STK_CALLBACK_PATH}?token={settings.mpesa_callback_token}"


def c2b_callback_urls(settings: Settings) -> tuple[str, str]:
    """(confirmation, validation) URLs to register with Safaricom, token included."""
    base = f"{settings.mpesa_callback_url}/payments/daraja/c2b"
    token = f"?token={settings.mpesa_callback_token}"
    return f"{base}/confirmation{token}", f"{base}/validation{token}"
