"""Africa's Talking payment notifications (removed from AT's SDKs in 2023; kept for lenders still
on it), turned into payments events. Wire format: shared/providers.md."""
from __future__ import annotations

import datetime as dt
import re

from sqlmodel import Session

from gateway.config import Settings
from gateway.inbox import CallbackRejected, Handler
from gateway.models import RawCallback
from gateway.payments import posting, reversals
from gateway.payments.events import Incoming, Reversal
from gateway.providers.parsing import amount, json_body, payer_phone, provider_id, required

PROVIDER = "africastalking"
ACCEPTED = {"status": "accepted"}
_VALUE = re.compile(r"\s*([A-Z]{3})\s+(\S+)\s*", re.ASCII)  # "KES 375.0000": the amount is read by parsing.amount
PAYMENT_CATEGORIES = ("MobileC2B", "MobileCheckout")
TRANSACTION_ID = re.compile(r"[A-Za-z0-9_.:-]{1,50}")  # "ATPid_SampleTxnId123"


def _at_time(value) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def notification(session: Session, raw: RawCallback, settings: Settings) -> dict:
    body = json_body(raw)
    required(body, "transactionId", "status")
    status = str(body["status"]).strip().lower()
    txn_id = provider_id(body["transactionId"], "transactionId", TRANSACTION_ID)
    if status == "reversed":
        reversals.reverse_reported(session, raw, Reversal(PROVIDER, txn_id, f"reversed:{txn_id}",
                                                          "Africa's Talking reported the payment reversed"))
        return ACCEPTED
    if status != "success":
        raw.error = f"status {body['status']}: nothing to post"
        return ACCEPTED
    if body.get("category") not in PAYMENT_CATEGORIES:
        raw.error = f"category {body.get('category')!r} is not a payment to us: ignored"
        return {"status": "ignored"}
    required(body, "value")
    value = _VALUE.fullmatch(str(body["value"]))
    if not value:
        raise CallbackRejected(422, "bad_amount", f"value must look like 'KES 100.0000', not {body['value']!r}")
    currency = value.group(1)
    metadata = body.get("requestMetadata") if isinstance(body.get("requestMetadata"), dict) else {}
    account_ref = str(body.get("clientAccount") or metadata.get("account_ref") or metadata.get("accountRef") or "")
    incoming = Incoming(provider=PROVIDER, txn_id=txn_id,
                        amount=amount(value.group(2), currency, settings.at_payments_max_amount, places=4),
                        currency=currency, payer_phone=payer_phone(body.get("source")), account_ref=account_ref,
                        paid_at=_at_time(body.get("transactionDate")))
    payment, _ = posting.record_payment(session, incoming, actor=PROVIDER)
    raw.payment_id = payment.id
    return ACCEPTED


HANDLERS = {(PROVIDER, "notification"): Handler(notification, ACCEPTED)}
