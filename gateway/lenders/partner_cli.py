"""`gateway partner ...`: a lender, its settings, its USSD codes and M-Pesa shortcodes, and their
Daraja credentials (read from the environment or a hidden prompt, sealed, never printed).
Errors are one line and exit code 2."""
from __future__ import annotations

import getpass
import os
import sys

import click

from gateway.config import Settings
from gateway.db import session_scope
from gateway.lenders import partners
from gateway.models import CodeKind, FieldPartner

# Where `gateway partner credentials` reads a shortcode's own Daraja keys (else it asks, hidden).
CREDENTIAL_VARIABLES = {"consumer_key": "PARTNER_CONSUMER_KEY", "consumer_secret": "PARTNER_CONSUMER_SECRET",
                        "passkey": "PARTNER_PASSKEY"}


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _fail(exc: Exception):
    click.echo(f"error: {exc}", err=True)
    raise SystemExit(2)


def describe(session, partner: FieldPartner) -> list[str]:
    """What `partner add/set/list` print: settings and codes, whose Daraja keys, never the keys."""
    languages = partner.language_list
    rows = partners.code_rows(session, partner.id)
    ussd = ", ".join(r.code for r in rows if r.kind == CodeKind.USSD) or "none (shares unclaimed codes)"
    short = ", ".join(f"{r.code} ({partners.keys_label(r)})" for r in rows if r.kind == CodeKind.SHORTCODE) or "none"
    return [f"lender {partner.id}: {partner.name} ({partner.country}, paybill {partner.paybill or '-'})",
            f"  currency {partner.currency}, timezone {partner.timezone}, languages {partner.languages} "
            f"(default {languages[0] if languages else '-'}), sender id {partner.sender_id or '(environment)'}, "
            f"help line {partner.help_line}",
            f"  USSD codes: {ussd}; paybills and tills: {short}"]


@click.group("partner")
def partner_group() -> None:
    """Lenders (field partners) using this gateway."""


@partner_group.command("add")
@click.argument("name")
@click.option("--help-line", default=None, help="The number borrowers call, shown on USSD and in SMS [HELP_LINE].")
@click.option("--country", default=None, help="ISO country of the lender's borrowers [DEFAULT_COUNTRY].")
@click.option("--currency", default=None, help="ISO 4217 currency of its loans [the country's].")
@click.option("--timezone", default=None, help="IANA timezone its borrowers live in [DEFAULT_TIMEZONE].")
@click.option("--languages", default="sw,en", show_default=True, help="Comma-separated, the default first.")
@click.option("--sender-id", default=None, help="SMS sender id, <= 11 letters and digits [AT_SENDER_ID].")
@click.option("--ussd-code", "ussd_codes", multiple=True, help="A USSD code of the lender (repeatable; may be "
              "shared with other lenders).")
@click.option("--paybill", "paybills", multiple=True, help="An M-Pesa paybill (repeatable); the first is quoted "
              "in SMS [MPESA_SHORTCODE, if no lender has it].")
@click.option("--till", "tills", multiple=True, help="An M-Pesa till (Buy Goods) number (repeatable).")
def partner_add(name, help_line, country, currency, timezone, languages, sender_id, ussd_codes, paybills,
                tills) -> None:
    """Add a lender. Options not given come from the environment (a single-lender deployment)."""
    env = Settings.from_env()
    try:
        with session_scope() as session:
            if not paybills and not tills and env.mpesa_shortcode and \
                    partners.for_shortcode(session, env.mpesa_shortcode) is None:
                paybills = (env.mpesa_shortcode,)
            partner = partners.add(
                session, name, _actor(), help_line=help_line or env.help_line, country=country or env.default_country,
                currency=currency, timezone=timezone or env.default_timezone, languages=languages,
                sender_id=env.at_sender_id if sender_id is None else sender_id, ussd_codes=ussd_codes,
                paybill=paybills[0] if paybills else "", shortcodes=(*paybills[1:], *tills))
            click.echo("\n".join(describe(session, partner)))
    except partners.PartnerError as exc:
        _fail(exc)


@partner_group.command("set")
@click.argument("name")
@click.option("--help-line")
@click.option("--country")
@click.option("--currency")
@click.option("--timezone")
@click.option("--languages", help="Comma-separated, the default first.")
@click.option("--sender-id", help='"" goes back to AT_SENDER_ID.')
@click.option("--paybill", help="The paybill quoted in SMS (added to the lender's shortcodes if new).")
@click.option("--add-ussd-code", multiple=True)
@click.option("--remove-ussd-code", multiple=True)
@click.option("--add-paybill", multiple=True)
@click.option("--remove-paybill", multiple=True, help="Also removes a till.")
@click.option("--add-till", multiple=True)
@click.option("--remove-till", multiple=True)
def partner_set(name, paybill, add_ussd_code, remove_ussd_code, add_paybill, remove_paybill, add_till, remove_till,
                **values) -> None:
    """Change a lender's settings, add or remove its codes. Codes are added first, then the quoted
    paybill changes, then codes are removed."""
    try:
        with session_scope() as session:
            partner = partners.find(session, name)
            for code in add_ussd_code:
                partners.add_code(session, partner, CodeKind.USSD, code, _actor())
            for code in (*add_paybill, *add_till):
                partners.add_code(session, partner, CodeKind.SHORTCODE, code, _actor())
            partners.change(session, partner, _actor(), paybill=paybill, **values)
            for code in remove_ussd_code:
                partners.remove_code(session, partner, CodeKind.USSD, code, _actor())
            for code in (*remove_paybill, *remove_till):
                partners.remove_code(session, partner, CodeKind.SHORTCODE, code, _actor())
            session.flush()
            click.echo("\n".join(describe(session, partner)))
    except partners.PartnerError as exc:
        _fail(exc)


@partner_group.command("list")
def partner_list() -> None:
    """Every lender: settings and codes, and whose Daraja keys each shortcode uses (never the keys)."""
    with session_scope() as session:
        rows = partners.listing(session)
        for partner in rows:
            click.echo("\n".join(describe(session, partner)))
        if not rows:
            click.echo("no lenders yet: gateway partner add NAME --help-line ...")


def _read_credentials() -> dict[str, str]:
    values = {key: os.environ.get(var, "") for key, var in CREDENTIAL_VARIABLES.items()}
    missing = [key for key, value in values.items() if not value]
    if missing and not sys.stdin.isatty():
        names = ", ".join(CREDENTIAL_VARIABLES[key] for key in missing)
        raise partners.PartnerError(f"set {names} (no terminal to ask on)")
    for key in missing:
        values[key] = click.prompt(f"Daraja {key.replace('_', ' ')}", hide_input=True, err=True)
    return values


@partner_group.command("credentials")
@click.argument("name")
@click.option("--shortcode", required=True, help="The lender's paybill or till these keys belong to.")
@click.option("--clear", is_flag=True, help="Forget the shortcode's own keys: it uses the environment's again.")
def partner_credentials(name: str, shortcode: str, clear: bool) -> None:
    """Store a shortcode's own Daraja keys (consumer key, consumer secret, passkey), encrypted with
    LENDER_ENCRYPTION_KEY. Read from PARTNER_CONSUMER_KEY, PARTNER_CONSUMER_SECRET, PARTNER_PASSKEY,
    else asked for with hidden input (only on a terminal). Never printed or logged."""
    try:
        with session_scope() as session:
            partner = partners.find(session, name)
            credentials = None if clear else _read_credentials()
            row = partners.set_credentials(session, Settings.from_env(), partner, shortcode, credentials, _actor())
            click.echo(f"{partner.name} {row.code}: {partners.keys_label(row)}")
    except partners.PartnerError as exc:
        _fail(exc)
