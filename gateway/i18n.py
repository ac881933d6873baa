"""Translations and locale-aware formatting.

Languages are data: every folder under gateway/translations/<lang>/LC_MESSAGES/messages.po is a
language. Catalogs are compiled from the .po files when first used, so they can never be stale.
"""
from __future__ import annotations

import datetime as dt
import io
from functools import cache, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as _babel_format_date
from babel.dates import format_time as _babel_format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from gateway.money import format_money

TRANSLATIONS = Path(__file__).parent / "translations"


def N_(message: str) -> str:
    """Marks a string for extraction without translating it yet (translated when shown)."""
    return message


def languages() -> list[str]:
    return list(_languages())


@lru_cache(maxsize=1)
def _languages() -> tuple[str, ...]:
    # Read once per process: every USSD hop builds a Speaker, and a directory glob per hop showed in profiles.
    return tuple(sorted(p.parent.parent.name for p in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")))


@cache
def translations(lang: str) -> Translations:
    po = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        raise LookupError(f"no catalog for language {lang!r}")
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf)


@lru_cache(maxsize=64)
def language_name(lang: str) -> str:
    """The language's own name for itself ('Kiswahili', 'English'), from CLDR."""
    name = Locale.parse(lang).get_display_name(lang) or lang
    return name[:1].upper() + name[1:]


@lru_cache(maxsize=256)
def locale_for(lang: str, country: str) -> str:
    """'sw' + 'KE' -> 'sw_KE' when CLDR has it, else the bare language."""
    try:
        return str(Locale.parse(f"{lang}_{country}"))
    except (UnknownLocaleError, ValueError):
        return lang


class Speaker:
    """Everything needed to talk to one person: their language, locale and timezone."""

    def __init__(self, lang: str, country: str = "KE", timezone: str = "Africa/Nairobi"):
        if lang not in _languages():
            lang = "en"
        self.lang = lang
        self.locale = locale_for(lang, country)
        self.tz = ZoneInfo(timezone)
        self._t = translations(lang)

    @classmethod
    def for_borrower(cls, borrower) -> Speaker:
        return cls(borrower.language, borrower.country, borrower.timezone)

    def _(self, message: str, **values) -> str:
        text = self._t.gettext(message)
        return text.format(**values) if values else text

    def money(self, minor: int, currency: str) -> str:
        return format_money(minor, currency, self.locale)

    def date(self, value: dt.date | dt.datetime, fmt: str = "d MMM yyyy") -> str:
        if isinstance(value, dt.datetime):
            value = value.astimezone(self.tz).date()
        return _babel_format_date(value, fmt, locale=self.locale)

    def time(self, value: dt.datetime) -> str:
        return _babel_format_time(value.astimezone(self.tz), "HH:mm", locale=self.locale)

    def today(self, now: dt.datetime | None = None) -> dt.date:
        return (now or dt.datetime.now(dt.UTC)).astimezone(self.tz).date()
