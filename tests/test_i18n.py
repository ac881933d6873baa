"""Every text shown to a borrower exists in every language, with the same placeholders."""
import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from gateway import i18n
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
    assert {"en", "sw"} <= set(i18n.languages())
    assert i18n.language_name("sw") == "Kiswahili" and i18n.language_name("en") == "English"


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


@pytest.mark.parametrize("locale,expected", [("en_KE", "Ksh1,250"), ("sw_KE", "Ksh 1,250"), ("sw_TZ", "TSh 2,000.50")])
def test_money_is_formatted_by_babel_for_the_locale_and_stays_gsm7(locale, expected):
    minor, currency = (125000, "KES") if expected.startswith("Ksh") else (200050, "TZS")
    text = format_money(minor, currency, locale)
    assert text == expected
    assert not re.search(r"[\u00a0\u202f]", text)
