"""Reading providers' callback bodies defensively: JSON objects, required fields, amounts in
minor units (never float), payer phones. Anything unreadable is a CallbackRejected (a 4xx, kept)."""
from __future__ import annotations

import json
from decimal import Decimal

from gateway import phones
from gateway.inbox import CallbackRejected
from gateway.models import RawCallback
from gateway.money import MoneyError, to_minor


def json_body(raw: RawCallback) -> dict:
    try:
        body = json.loads(raw.body or "", parse_float=Decimal)  # never float for money
    except ValueError as exc:
        raise CallbackRejected(400, "bad_json", f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise CallbackRejected(400, "bad_json", "body must be a JSON object")
    return body


def required(body: dict, *names: str) -> None:
    missing = [n for n in names if body.get(n) in (None, "")]
    if missing:
        raise CallbackRejected(422, "missing_fields", f"missing {', '.join(missing)}")


def amount(value, currency: str) -> int:
    try:
        minor = to_minor(Decimal(str(value)) if not isinstance(value, Decimal) else value, currency)
    except (MoneyError, ArithmeticError, ValueError):
        raise CallbackRejected(422, "bad_amount", f"not an amount in {currency}: {value!r}") from None
    if minor <= 0:
        raise CallbackRejected(422, "bad_amount", f"amount must be positive: {value!r}")
    return minor


def payer_phone(value) -> str:
    """E.164 when it is a real number; M-Pesa masks C2B MSISDNs ('2547 ***** 126'): kept as is."""
    text = str(value or "").strip()
    return phones.try_normalize(text) or text
