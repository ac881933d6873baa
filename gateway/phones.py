"""Every phone number goes through phonenumbers and is stored as E.164."""
from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers


class PhoneError(ValueError):
    pass


def normalize(raw: str, default_region: str = "KE") -> str:
    """'0712 345 678' or '254712345678' -> '+254712345678'; PhoneError if not a valid number."""
    return phonenumbers.format_number(_parse(raw, default_region), phonenumbers.PhoneNumberFormat.E164)


def _parse(raw: str, default_region: str) -> phonenumbers.PhoneNumber:
    text = (raw or "").strip()
    if text.isdigit() and len(text) > 10 and not text.startswith("0"):
        text = "+" + text  # M-Pesa sends MSISDNs without the '+'
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise PhoneError(f"not a phone number: {raw!r}") from exc
    if not phonenumbers.is_valid_number(number):
        raise PhoneError(f"not a valid phone number: {raw!r}")
    return number


@lru_cache(maxsize=65536)  # pure, and called twice per USSD hop (rate-limit key, borrower lookup)
def try_normalize(raw: str, default_region: str = "KE") -> str | None:
    try:
        return normalize(raw, default_region)
    except PhoneError:
        return None


def inspect(raw: str, default_region: str = "KE") -> tuple[str, bool, str | None]:
    """`normalize`, `is_mobile` and `region_of` from one parse (the portfolio import reads 100,000 numbers)."""
    number = _parse(raw, default_region)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    kind = phonenumbers.number_type(number)
    mobile = kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
    return e164, mobile, phonenumbers.region_code_for_number(number)


def is_mobile(e164: str) -> bool:
    """Can it take an SMS, a USSD session and M-Pesa? phonenumbers' number type says (landlines cannot)."""
    kind = phonenumbers.number_type(phonenumbers.parse(e164))
    return kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def region_of(e164: str) -> str | None:
    return phonenumbers.region_code_for_number(phonenumbers.parse(e164))


def mask(e164: str) -> str:
    """For logs: '+254712345678' -> '+254712***678'."""
    return e164[:7] + "***" + e164[-3:] if len(e164) > 10 else "***"


_MASKED = re.compile(r"^\+?([0-9 ]*?)[ ]*\*[* ]*([0-9 ]*)$")


def same_number(payer: str, e164: str, default_region: str = "KE") -> bool | None:
    """Is `payer` the number `e164`? True or False when it says; for a masked MSISDN (Safaricom's
    C2B '2547 ***** 542') the visible digits are compared: None when they fit, False when they do not."""
    full = try_normalize(payer, default_region)
    if full:
        return full == e164
    found = _MASKED.match((payer or "").strip())
    if not found:
        return False
    head, tail = (found.group(k).replace(" ", "") for k in (1, 2))
    if head.startswith("0"):  # national format: the country code stands for the leading 0
        head = str(phonenumbers.country_code_for_region(default_region)) + head[1:]
    digits = e164.lstrip("+")
    if not (head or tail) or not digits.startswith(head) or not digits.endswith(tail):
        return False
    return None
