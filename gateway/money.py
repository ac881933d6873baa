"""Money as integer minor units of an ISO 4217 currency; Decimal at the edges; never float."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale
from babel.numbers import format_currency, get_currency_precision

MAX_DIGITS = 15  # major-unit digits an amount may have: far above any loan, far below BIGINT


class MoneyError(ValueError):
    pass


def digits(currency: str) -> int:
    return get_currency_precision(currency)


def to_minor(amount: str | int | Decimal, currency: str) -> int:
    """'1250.50' KES -> 125050. Rejects floats, NaN, and more decimals than the currency has."""
    if isinstance(amount, float):
        raise MoneyError("money must not be a float")
    try:
        value = Decimal(str(amount).strip().replace(",", ""))
    except InvalidOperation:
        raise MoneyError(f"not an amount: {amount!r}") from None
    if not value.is_finite():
        raise MoneyError(f"not an amount: {amount!r}")
    if value.adjusted() >= MAX_DIGITS:  # before scaling: 1e999999999 would make a huge int
        raise MoneyError(f"{amount} is too large an amount")
    minor = value.scaleb(digits(currency))
    if minor != minor.to_integral_value():
        raise MoneyError(f"{amount} has more decimals than {currency} allows")
    return int(minor)


def from_minor(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-digits(currency))


@lru_cache(maxsize=64)
def _standard_pattern(locale: str) -> str:
    # Locale.parse is costly and was called on every amount shown (several per USSD hop).
    return Locale.parse(locale).currency_formats["standard"].pattern.split(";")[0]


def format_money(minor: int, currency: str, locale: str) -> str:
    """Babel's own currency format for the locale ('Ksh1,250' en_KE, 'Ksh 1,250' sw_KE);
    decimals shown only when there are cents, to keep USSD and SMS short."""
    amount = from_minor(minor, currency)
    pattern = _standard_pattern(locale)
    if amount == amount.to_integral_value():
        pattern = pattern.replace(".00", "")
        amount = amount.quantize(Decimal(1))
    text = format_currency(amount, currency, format=pattern, locale=locale, currency_digits=False)
    # CLDR puts no-break spaces in some locales (sw_KE); they are not GSM-7 and would double an SMS's cost.
    return text.replace("\u00a0", " ").replace("\u202f", " ")
