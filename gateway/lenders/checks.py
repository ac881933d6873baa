"""What a lender's settings must look like before they are stored: each check returns the clean
value or raises PartnerError with one line that says what is expected."""
from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import get_territory_currencies, list_currencies
from phonenumbers import SUPPORTED_REGIONS

from gateway import i18n


class PartnerError(ValueError):
    """A lender change that cannot be made; the message says why."""


USSD_CODE = re.compile(r"^\*\d+(\*\d+)*#$")  # *384*123#
SHORTCODE = re.compile(r"^\d{5,7}$")  # an M-Pesa paybill or till number
SENDER_ID = re.compile(r"^[A-Za-z0-9]{1,11}$")  # Africa's Talking alphanumeric sender id


def country(value: str) -> str:
    code = value.strip().upper()
    if code not in SUPPORTED_REGIONS:  # a country its borrowers' phone numbers are read in (not ZZ, EU, UN)
        raise PartnerError(f"country is a two-letter ISO code, e.g. KE (not {value!r})")
    return code


def currency(value: str) -> str:
    code = value.strip().upper()
    if code not in list_currencies():
        raise PartnerError(f"currency is an ISO 4217 code, e.g. KES, UGX, TZS (not {value!r})")
    return code


def currency_of(country_code: str) -> str:
    """The currency a country uses today (KE -> KES), from CLDR."""
    found = get_territory_currencies(country_code)
    return found[0] if found else "KES"


def timezone(value: str) -> str:
    name = value.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PartnerError(f"timezone is an IANA name, e.g. Africa/Nairobi (not {value!r})") from None
    return name


def languages(value: str) -> str:
    codes = [code.strip().lower() for code in value.split(",") if code.strip()]
    known = i18n.languages()
    unknown = [code for code in codes if code not in known]
    if not codes or unknown or len(set(codes)) != len(codes):
        raise PartnerError(f"languages are codes with a catalogue ({', '.join(known)}), comma-separated, the "
                           f"default first (not {value!r})")
    return ",".join(codes)


def sender_id(value: str) -> str:
    text = value.strip()
    if text and not SENDER_ID.match(text):
        raise PartnerError(f"sender id is at most 11 letters and digits, no spaces (not {value!r})")
    return text


def help_line(value: str) -> str:
    text = value.strip()
    if not text or len(text) > 40:
        raise PartnerError("help line is the number borrowers call (1 to 40 characters)")
    return text


def ussd_code(value: str) -> str:
    code = value.strip()
    if not USSD_CODE.match(code):
        raise PartnerError(f"a USSD code looks like *384*123# (not {value!r})")
    return code


def shortcode(value: str) -> str:
    code = value.strip()
    if not code.isdigit():
        raise PartnerError(f"paybill is the M-Pesa business number: digits only (not {value!r})")
    if not SHORTCODE.match(code):
        raise PartnerError(f"an M-Pesa paybill or till has 5 to 7 digits (not {value!r})")
    return code


FIELDS = {"country": country, "currency": currency, "timezone": timezone, "languages": languages,
          "sender_id": sender_id, "help_line": help_line}


def settings(values: dict) -> dict:
    """The given (not None) settings, checked and cleaned."""
    return {key: FIELDS[key](value) for key, value in values.items() if value is not None}
