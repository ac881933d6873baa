"""Every SMS template renders in both languages with sample data, in GSM-7 (never the UCS-2
that doubles the cost) and in its intended number of segments; ladders name existing templates."""
import datetime as dt
from pathlib import Path

import pytest

from gateway.borrowers import catalogue
from gateway.i18n import Speaker, languages
from gateway.ledger import Balance
from gateway.messaging import render, sms_encoding
from gateway.messaging.compose import TEMPLATES
from gateway.reminders import ladders

# Long but realistic values, so a template that fits here fits in production.
COMMON = dict(lender="Jirani Finance", help_line="0800 720 000", paybill="600966", name="Wanjiku",
              account_ref="BIZ48215", currency="KES")
BALANCE = Balance(currency="KES", outstanding=12_345_600, arrears=1_234_500, credit=0,
                  next_due_date=dt.date(2026, 12, 31), next_due_amount=1_234_500,
                  overdue_since=dt.date(2026, 9, 30))
SAMPLES = {
    "reminder": dict(amount=1_234_550, due_date=dt.date(2026, 12, 31), arrears=12_345_650, days_late=30),
    "welcome": dict(product="mfumo wa sola wa nyumbani", first_amount=1_234_550, first_due_date=dt.date(2026, 12, 31)),
    "payments": dict(balance=12_345_600, next_due=dt.date(2026, 12, 31), overdue_since=dt.date(2026, 9, 30),
                     code="1037"),
    "payg": dict(serial="SHS-000123456", code="123 456 789 012 345", codes=["123 456 789"], days=995,
                 until=dt.date(2029, 8, 31), daily_rate=6_000, short=5_950, token_kind="add_time", unlocked=False),
}
# Variables that mean something else in one template (the balance reply gets the whole Balance).
PER_TEMPLATE = {"balance": dict(balance=BALANCE)}
# Intended segments: reminders, receipts, codes and replies in one SMS; the welcome may take two.
FRAGMENTS = {"payg_entry"}  # appended to another SMS, never sent alone
SEGMENTS = {"welcome": 2, "welcome_call_missed": 2, "balance": 2}


def all_templates():
    names = sorted({p.name.split(".")[0] for p in Path(TEMPLATES).glob("*.txt")})
    return [(name, lang) for name in names for lang in languages()]


@pytest.mark.parametrize("name,lang", all_templates())
def test_template_renders_in_gsm7_within_its_segments(name, lang):
    variables = dict(COMMON)
    for sample in SAMPLES.values():
        variables.update(sample)
    variables.update(PER_TEMPLATE.get(name, {}))
    text = render(name, Speaker(lang), **variables)
    encoding, segments = sms_encoding(text)
    assert "{" not in text and "None" not in text, text
    assert encoding == "GSM-7", f"{name}.{lang}: a non-GSM-7 character would double the cost: {text!r}"
    assert segments <= SEGMENTS.get(name, 1), f"{name}.{lang} is {len(text)} characters: {text!r}"


def test_every_template_exists_in_every_language():
    names = {p.name.split(".")[0] for p in Path(TEMPLATES).glob("*.txt")}
    for name in names:
        for lang in languages():
            assert (Path(TEMPLATES) / f"{name}.{lang}.txt").exists(), f"{name}.{lang}.txt is missing"


def test_curly_quotes_are_normalised_to_gsm7(tmp_path, monkeypatch):
    from gateway.messaging import compose
    (tmp_path / "q.en.txt").write_text("Don\u2019t forget \u2013 pay \u201ctoday\u201d")
    monkeypatch.setattr(compose, "TEMPLATES", tmp_path)
    compose.template_env.cache_clear()
    try:
        assert sms_encoding(render("q", Speaker("en"))) == ("GSM-7", 1)
        assert render("q", Speaker("en")) == 'Don\'t forget - pay "today"'
    finally:
        compose.template_env.cache_clear()


def test_default_ladders():
    lad = ladders.load()
    assert [(s.step, s.template) for s in lad.steps_for("monthly")] == [
        ("D-3", "reminder_upcoming"), ("D0", "reminder_due_today"), ("D+1", "reminder_overdue"),
        ("D+7", "reminder_arrears"), ("D+30", "reminder_final")]
    assert [s.offset for s in lad.steps_for("weekly")] == [-1, 0, 2, 7, 30]
    assert lad.steps_for("fortnightly") == lad.steps_for("") == lad.default
    # "due today" only on the day
    assert [s.grace for s in lad.steps_for("monthly")] == [None, 0, None, None, None]
    assert lad.check_name("weekly") == "weekly" and lad.check_name("") == ""
    with pytest.raises(ladders.LadderError, match=r"unknown ladder 'business loan' \(known: monthly, weekly"):
        lad.check_name("business loan")  # ladders are named for their rhythm; products name their ladder


def test_every_default_product_is_named_in_every_language_and_names_a_ladder():
    lad = ladders.load()
    listed = catalogue.default_products()
    assert listed and all(p["names"].get(lang) for p in listed for lang in languages()), listed
    assert {p["code"]: p["ladder"] for p in listed} == {"business loan": "monthly", "solar home system": "weekly"}
    assert all(lad.check_name(p["ladder"]) for p in listed)


def test_the_old_ladder_layout_keyed_by_product_is_refused(tmp_path):
    old = tmp_path / "ladders.toml"
    step = '\nsteps = [{ step = "D0", offset = 0, template = "reminder_due_today" }]\n'
    old.write_text(f'[default]{step}[products."business loan"]{step}')
    with pytest.raises(ladders.LadderError, match=r"ladders are \[ladders.<name>\] now"):
        ladders.load(str(old))


def test_a_ladder_naming_a_missing_template_fails_at_load(tmp_path):
    bad = tmp_path / "ladders.toml"
    bad.write_text('[default]\nsteps = [{ step = "D0", offset = 0, template = "reminder_nonexistent" }]\n')
    with pytest.raises(ladders.LadderError, match="no template reminder_nonexistent"):
        ladders.load(str(bad))


def test_a_reminder_template_with_an_unknown_variable_fails_at_load(tmp_path, monkeypatch):
    from gateway.messaging import compose
    for lang in languages():
        (tmp_path / f"reminder_x.{lang}.txt").write_text("{{ lender }}: pay {{ amount_due }}")
    monkeypatch.setattr(ladders, "TEMPLATES", tmp_path)
    monkeypatch.setattr(compose, "TEMPLATES", tmp_path)
    compose.template_env.cache_clear()
    bad = tmp_path / "ladders.toml"
    bad.write_text('[default]\nsteps = [{ step = "D0", offset = 0, template = "reminder_x" }]\n')
    try:
        with pytest.raises(ladders.LadderError, match="variables a reminder does not have: amount_due"):
            ladders.load(str(bad))
    finally:
        compose.template_env.cache_clear()


@pytest.mark.parametrize("name,lang", [(n, lang) for n, lang in all_templates() if n not in FRAGMENTS])
def test_every_sms_starts_with_the_lenders_name(name, lang):
    """A borrower with loans at two lenders must know at once which one is writing."""
    variables = dict(COMMON)
    for sample in SAMPLES.values():
        variables.update(sample)
    variables.update(PER_TEMPLATE.get(name, {}))
    text = render(name, Speaker(lang), **variables)
    assert "Jirani Finance" in text[:30], f"{name}.{lang}: {text!r}"


@pytest.mark.parametrize("lang", languages())
@pytest.mark.parametrize("code", ["1", "1032", "1037", "1019", "2001", "unreachable", "17"])
def test_a_failed_mpesa_prompt_is_one_sms_for_every_reason(lang, code):
    text = render("stk_failed", Speaker(lang), **dict(COMMON, amount=1_234_550, code=code))
    assert text.startswith("Jirani Finance") and sms_encoding(text) == ("GSM-7", 1), f"{len(text)}: {text!r}"
