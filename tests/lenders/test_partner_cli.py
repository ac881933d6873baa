"""`gateway partner add|set|list|credentials` (issue 13, part 1): a lender with its currency,
timezone, languages, sender id, USSD codes and paybills from an empty database; bad input is one
line and exit code 2; Daraja credentials are sealed and never shown, logged or audited."""
import logging

import pytest
from click.testing import CliRunner
from sqlmodel import select

from gateway.cli import main
from gateway.lenders import partners
from gateway.models import AuditEvent, CodeKind, FieldPartner, LenderCode

SOLA = ("partner", "add", "Sola Bora", "--country", "TZ", "--timezone", "Africa/Dar_es_Salaam",
        "--languages", "sw,en", "--help-line", "0800 720 000", "--sender-id", "SOLABORA",
        "--ussd-code", "*384*123#", "--ussd-code", "*150*00#", "--paybill", "600638", "--paybill", "600639",
        "--till", "512345")


def run(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env)


def fresh(session, name="Sola Bora") -> FieldPartner:
    session.rollback()  # the command committed in its own session
    return session.exec(select(FieldPartner).where(FieldPartner.name == name)).one()


def test_a_lender_with_its_settings_and_codes(settings, session):
    result = run(*SOLA)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == [
        "  currency TZS, timezone Africa/Dar_es_Salaam, languages sw,en (default sw), sender id SOLABORA, "
        "help line 0800 720 000",
        "  USSD codes: *384*123#, *150*00#; paybills and tills: 600638 (environment's keys), "
        "600639 (environment's keys), 512345 (environment's keys)"]
    sola = fresh(session)
    assert (sola.currency, sola.paybill, sola.country) == ("TZS", "600638", "TZ")  # the first paybill is quoted
    assert partners.for_shortcode(session, "512345").id == sola.id  # a till selects the lender too
    assert [p.name for p in partners.for_ussd_code(session, "*150*00#")] == ["Sola Bora"]
    listing = run("partner", "list").output
    assert ": Sola Bora (TZ, paybill 600638)" in listing and "*384*123#" in listing


def test_defaults_come_from_the_environment(settings, session, monkeypatch):
    monkeypatch.setenv("DEFAULT_TIMEZONE", "Africa/Kampala")
    monkeypatch.setenv("DEFAULT_COUNTRY", "UG")
    monkeypatch.setenv("AT_SENDER_ID", "MWANGAZA")
    monkeypatch.setenv("MPESA_SHORTCODE", "600700")
    monkeypatch.setenv("HELP_LINE", "0800 111 222")
    assert run("partner", "add", "Mwangaza").exit_code == 0
    mwangaza = fresh(session, "Mwangaza")
    assert (mwangaza.country, mwangaza.currency, mwangaza.timezone, mwangaza.sender_id, mwangaza.paybill,
            mwangaza.help_line, mwangaza.languages) == ("UG", "UGX", "Africa/Kampala", "MWANGAZA", "600700",
                                                        "0800 111 222", "sw,en")
    # a second lender does not take the environment's shortcode: it belongs to the first
    assert run("partner", "add", "Second").exit_code == 0
    assert fresh(session, "Second").paybill == ""


@pytest.mark.parametrize("args,message", [
    (("--currency", "KSH"), "currency is an ISO 4217 code"),
    (("--timezone", "Africa/Atlantis"), "timezone is an IANA name"),
    (("--languages", "sw,de"), "languages are codes with a catalogue (en, es, fr, sw)"),
    (("--sender-id", "JIRANI FINANCE"), "sender id is at most 11 letters and digits"),
    (("--ussd-code", "384*123"), "a USSD code looks like *384*123#"),
    (("--paybill", "60-07"), "digits only"),
    (("--till", "12"), "5 to 7 digits"),
    (("--country", "XX"), "two-letter ISO code"),
    (("--country", "ZZ"), "two-letter ISO code"),  # CLDR's "Unknown Region": no phone number parses in it
    (("--country", "EU"), "two-letter ISO code"),
    (("--paybill", "600966"), "shortcode 600966 belongs to another lender (Jirani Finance)"),
])
def test_bad_input_is_one_line_and_exit_code_2(settings, session, factory, args, message):
    session.add(LenderCode(field_partner_id=factory.partner.id, kind=CodeKind.SHORTCODE, code="600966"))
    session.commit()
    result = run("partner", "add", "New Lender", "--help-line", "0800 1", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    session.rollback()
    assert session.exec(select(FieldPartner).where(FieldPartner.name == "New Lender")).first() is None


def test_set_changes_settings_and_codes_audited(settings, session):
    run(*SOLA)
    result = run("partner", "set", "Sola Bora", "--languages", "en,sw", "--sender-id", "", "--timezone", "UTC",
                 "--add-ussd-code", "*384*9#", "--remove-ussd-code", "*150*00#", "--add-paybill", "600640",
                 "--paybill", "600640", "--remove-paybill", "600638", "--remove-till", "512345")
    assert result.exit_code == 0, result.output
    assert "languages en,sw (default en), sender id (environment)" in result.output
    assert "USSD codes: *384*123#, *384*9#; paybills and tills: 600639 (environment's keys), 600640" in result.output
    sola = fresh(session)
    assert (sola.paybill, sola.timezone, sola.sender_id) == ("600640", "UTC", "")
    assert partners.for_shortcode(session, "600638") is None
    actions = [(e.action, e.data.get("code")) for e in session.exec(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions[-6:] == [("partner.code_added", "*384*9#"), ("partner.code_added", "600640"),
                            ("partner.changed", None), ("partner.code_removed", "*150*00#"),
                            ("partner.code_removed", "600638"), ("partner.code_removed", "512345")]
    [changed] = [e.data for e in session.exec(select(AuditEvent).where(AuditEvent.action == "partner.changed"))]
    assert changed == {"before": {"languages": "sw,en", "sender_id": "SOLABORA", "timezone": "Africa/Dar_es_Salaam",
                                  "paybill": "600638"},
                       "after": {"languages": "en,sw", "sender_id": "", "timezone": "UTC", "paybill": "600640"}}


def test_set_refuses_what_would_break_payments(settings, session, factory):
    run(*SOLA)
    cases = [(("--remove-paybill", "600638"), "600638 is the paybill quoted in SMS: choose another paybill first"),
             (("--add-paybill", "600638"), "600638 is already one of Sola Bora's codes"),
             (("--remove-ussd-code", "*1#"), "*1# is not one of Sola Bora's ussd codes"),
             (("--currency", "XYZ"), "currency is an ISO 4217 code")]
    for args, message in cases:
        result = run("partner", "set", "Sola Bora", *args)
        assert result.exit_code == 2 and message in result.output, (args, result.output)
    # a USSD code may be shared; a shortcode may not
    assert run("partner", "set", factory.partner.name, "--add-ussd-code", "*384*123#").exit_code == 0
    taken = run("partner", "set", factory.partner.name, "--paybill", "600639")
    assert taken.exit_code == 2 and "belongs to another lender (Sola Bora)" in taken.output


KEYS = {"PARTNER_CONSUMER_KEY": "ck-secret-111", "PARTNER_CONSUMER_SECRET": "cs-secret-222",
        "PARTNER_PASSKEY": "pk-secret-333"}


def test_credentials_are_sealed_never_printed_logged_or_audited(settings, session, caplog):
    run(*SOLA)
    caplog.set_level(logging.DEBUG)
    result = run("partner", "credentials", "Sola Bora", "--shortcode", "600638", env=KEYS)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Sola Bora 600638: own Daraja keys"
    listing = run("partner", "list").output
    assert "600638 (own Daraja keys), 600639 (environment's keys)" in listing
    session.rollback()
    row = session.exec(select(LenderCode).where(LenderCode.code == "600638")).one()
    assert partners.open_credentials(settings, row) == {"consumer_key": "ck-secret-111",
                                                        "consumer_secret": "cs-secret-222",
                                                        "passkey": "pk-secret-333"}
    audit = [e.data for e in session.exec(select(AuditEvent))]
    seen = " ".join([result.output, listing, caplog.text, str(audit), row.credentials])
    assert not any(secret in seen for secret in KEYS.values())
    assert {"shortcode": "600638"} in audit

    cleared = run("partner", "credentials", "Sola Bora", "--shortcode", "600638", "--clear")
    assert cleared.exit_code == 0 and cleared.output.strip() == "Sola Bora 600638: environment's keys"


def test_credentials_without_a_terminal_need_the_variables(settings, session):
    run(*SOLA)
    result = run("partner", "credentials", "Sola Bora", "--shortcode", "600638",
                 env={"PARTNER_CONSUMER_KEY": "ck-secret-111", "PARTNER_CONSUMER_SECRET": "",
                      "PARTNER_PASSKEY": ""})
    assert result.exit_code == 2
    assert result.output.strip() == "error: set PARTNER_CONSUMER_SECRET, PARTNER_PASSKEY (no terminal to ask on)"
    other = run("partner", "credentials", "Sola Bora", "--shortcode", "600966", env=KEYS)
    assert other.exit_code == 2 and "600966 is not one of Sola Bora's paybills or tills" in other.output


def test_a_lender_is_found_by_its_name_in_any_case_and_no_two_differ_only_by_case(session, factory):
    assert partners.find(session, "  JIRANI finance ").id == factory.partner.id
    with pytest.raises(partners.PartnerError, match="exists already"):
        partners.add(session, "jirani FINANCE", "test", help_line="0800 1")


def test_a_malformed_encryption_key_is_one_line_and_exit_code_2_without_the_key(settings, session):
    """LENDER_ENCRYPTION_KEY that is no Fernet key: a traceback (exit 1) before; now one line naming the
    variable, never its value."""
    run(*SOLA)
    result = run("partner", "credentials", "Sola Bora", "--shortcode", "600638",
                 env={**KEYS, "LENDER_ENCRYPTION_KEY": "not-a-fernet-key-zq9"})
    assert result.exit_code == 2, result.output
    assert result.output.strip() == ("error: LENDER_ENCRYPTION_KEY must be Fernet keys (32 url-safe base64 bytes), "
                                     "comma-separated")
    assert "zq9" not in result.output and "secret-" not in result.output
