"""Every text shown to a borrower exists in every language, with the same placeholders."""
import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from gateway import i18n
from gateway.messaging import gsm7, sms_encoding
from gateway.money import format_money

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "N_": None, "Invalid": None}


def catalog(lang):
    with open(i18n.TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return read_po(fh, locale=lang)


def code_msgids():
    found = set()
    for _file, _line, msg, _comments, _ctx in extract_from_dir(str(ROOT / "gateway"), keywords=KEYWORDS,
                                                              comment_tags=()):
        found.add(msg if isinstance(msg, str) else msg[0])
    return found


def test_languages_are_discovered_from_catalogs():
    assert {"en", "es", "fr", "sw"} <= set(i18n.languages())
    assert [i18n.language_name(lang) for lang in ("en", "es", "fr", "sw")] == ["English", "Español", "Français",
                                                                               "Kiswahili"]


@pytest.mark.parametrize("lang,country,locale", [("fr", "CM", "fr_CM"), ("fr", "CI", "fr_CI"), ("es", "GQ", "es_GQ"),
                                                 ("es", "ES", "es_ES"), ("fr", "KE", "fr"), ("sw", "KE", "sw_KE")])
def test_the_locale_is_the_language_in_the_borrowers_country_when_cldr_has_it(lang, country, locale):
    assert i18n.Speaker(lang, country).locale == locale


@pytest.mark.parametrize("lang", i18n.languages())
def test_catalog_has_every_string_the_code_uses(lang):
    missing = code_msgids() - {m.id for m in catalog(lang) if m.id}
    assert not missing, f"add to {lang}/messages.po: {sorted(missing)}"


def placeholders(text):
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("lang", [lang for lang in i18n.languages() if lang != "en"])
def test_every_string_is_translated_with_the_same_placeholders(lang):
    for m in catalog(lang):
        if not m.id:
            continue
        assert m.string, f"{lang}: untranslated {m.id!r}"
        assert placeholders(m.string) == placeholders(m.id), f"{lang}: placeholders differ in {m.id!r}"
        assert "fuzzy" not in m.flags, f"{lang}: fuzzy {m.id!r}"


@pytest.mark.parametrize("locale,minor,currency,expected", [
    ("en_KE", 125000, "KES", "Ksh1,250"), ("sw_KE", 125000, "KES", "Ksh 1,250"),
    ("sw_TZ", 200050, "TZS", "TSh 2,000.50"),
    ("fr_CM", 1250000, "XAF", "1 250 000 FCFA"), ("fr_CI", 125000, "XOF", "125 000 F CFA"),
    ("fr_CD", 125050, "CDF", "1 250,50 FC"), ("es_GQ", 125000, "XAF", "125.000 FCFA"),
    ("es_ES", 125050, "EUR", "1.250,50 €"),
])
def test_money_is_formatted_by_babel_for_the_locale_and_stays_gsm7(locale, minor, currency, expected):
    text = format_money(minor, currency, locale)
    assert text == expected
    assert not re.search(r"[\u00a0\u202f]", text) and sms_encoding(text)[0] == "GSM-7"


@pytest.mark.parametrize("lang", i18n.languages())
def test_every_string_goes_out_in_gsm7(lang):
    """On USSD and SMS, letters outside GSM 03.38 lose their accent (prêt -> pret, día -> dia); é, è, à, ñ
    stay. Nothing else a catalog holds may be outside GSM-7: one such character makes a whole SMS UCS-2."""
    for m in catalog(lang):
        if m.id:
            assert sms_encoding(gsm7(m.string or m.id))[0] == "GSM-7", f"{lang}: {m.string!r}"
    assert gsm7("Prêt reçu ? ¿Cuándo? Número, día, “ok” – Zoë") == 'Pret recu ? ¿Cuando? Numero, dia, "ok" - Zoe'
    assert gsm7("Échéance à payer, año, Über") == "Échéance à payer, año, Über"  # all GSM-7 already
