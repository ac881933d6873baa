"""Reading providers' callback bodies defensively: JSON objects, required fields, provider ids of
the provider's shape, amounts in minor units (never float), payer phones. Anything unreadable
is a CallbackRejected (a 4xx, kept for review, never retried)."""
from __future__ import annotations

import json
import re
from decimal import Decimal

from gateway import phones
from gateway.inbox import CallbackRejected
from gateway.models import RawCallback
from gateway.money import MoneyError, to_minor

# Plain ASCII digits, optionally with a decimal point: no exponent, sign, separators, or other
# scripts' digits (int() and Decimal() read Devanagari and full-width digits; we do not).
_DECIMAL = re.compile(r"[0-9]{1,15}(?:\.([0-9]{1,4}))?", re.ASCII)


def json_body(raw: RawCallback) -> dict:
    try:
        body = json.loads(raw.body or "", parse_float=Decimal)  # never float for money
    except ValueError as exc:
        raise CallbackRejected(400, "bad_json", f"body is not JSON: {exc}") from None
    except RecursionError:
        raise CallbackRejected(400, "bad_json", "body is nested too deeply") from None
    if not isinstance(body, dict):
        raise CallbackRejected(400, "bad_json", "body must be a JSON object")
    try:  # a lone surrogate ("\ud800") is valid JSON but not text any database can store
        json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        raise CallbackRejected(400, "bad_text", "body contains a lone surrogate (not valid Unicode)") from None
    return body


def required(body: dict, *names: str) -> None:
    missing = [n for n in names if body.get(n) in (None, "")]
    if missing:
        raise CallbackRejected(422, "missing_fields", f"missing {', '.join(missing)}")


def obj(value, name: str) -> dict:
    """A nested JSON object (absent: empty)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CallbackRejected(422, "bad_field", f"{name} must be an object")
    return value


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def provider_id(value, name: str, shape: re.Pattern) -> str:
    """A receipt or transaction id: a string of the provider's documented shape (surrounding
    spaces ignored), so a blank, huge or structured id is never stored as a payment's key."""
    text = value.strip() if isinstance(value, str) else None
    if not text or not shape.fullmatch(text):
        raise CallbackRejected(422, "bad_receipt", f"{name} is not a valid id: {_shown(value)}")
    return text


def amount(value, currency: str, maximum: int, places: int = 2) -> int:
    """Minor units from an ASCII decimal with at most `places` decimals (AT writes four, all
    zeros past the currency's), positive, and not above `maximum` major units of the rail."""
    text = str(value).strip() if isinstance(value, (str, int, Decimal)) and not isinstance(value, bool) else ""
    match = _DECIMAL.fullmatch(text)
    if not match or len(match.group(1) or "") > places:
        raise CallbackRejected(422, "bad_amount", f"not an amount in {currency}: {_shown(value)}")
    try:
        minor = to_minor(text, currency)
    except MoneyError:
        raise CallbackRejected(422, "bad_amount", f"not an amount in {currency}: {_shown(value)}") from None
    if minor <= 0:
        raise CallbackRejected(422, "bad_amount", f"amount must be positive: {_shown(value)}")
    if minor > to_minor(maximum, currency):
        raise CallbackRejected(422, "bad_amount", f"{text} {currency} is above the maximum of {maximum} {currency}")
    return minor


def payer_phone(value) -> str:
    """E.164 when it is a real number; M-Pesa masks C2B MSISDNs ('2547 ***** 126'): kept as is."""
    text = str(value or "").strip()
    return phones.try_normalize(text) or text
