"""`gateway product add|set|list --partner NAME`: a lender's loan products. Errors are one line and exit
code 2; every change is audited (gateway/borrowers/products.py)."""
from __future__ import annotations

import getpass

import click

from gateway import i18n
from gateway.borrowers import products
from gateway.borrowers.catalogue import ProductError
from gateway.cli_support import Refused
from gateway.db import session_scope
from gateway.lenders import partners

_NAME_OPTIONS = tuple(sorted(i18n.languages()))


def _options(adding: bool):
    """The options add and set share; on set every one is optional (unset: unchanged)."""
    def decorate(command):
        opts = [
            click.option("--partner", "partner_name", required=True, help="The lender's name (gateway partner list)."),
            *[click.option(f"--name-{lang}", f"name_{lang}", help=f"The product's name in {i18n.language_name(lang)}.")
              for lang in _NAME_OPTIONS],
            click.option("--name", "names", multiple=True, metavar="LANG=TEXT",
                         help='A name in one language, e.g. --name sw="mkopo wa biashara" (repeatable).'),
            click.option("--prefix", help="3 letters account numbers start with (BIZ: BIZ23456); unique per lender."),
            click.option("--ladder", help="A reminder ladder of ladders.toml; '' for the default one."),
            click.option("--principal-min", help="Smallest principal, in major units (5000 or 5000.50)."),
            click.option("--principal-max", help="Largest principal, in major units."),
            click.option("--installments-min"),
            click.option("--installments-max"),
            click.option("--frequency", help="weekly or monthly: when the onboarding request names none."),
            click.option("--first-due-within-days",
                         help="The first due date is at most this many days ahead."),
            click.option("--round-to", help="Installments in multiples of this many units (0: to the cent)."),
            click.option("--payg/--no-payg", default=False if adding else None,
                         help="A PAYG device (solar) goes with each loan."),
            click.option("--active/--inactive", default=True if adding else None,
                         help="Inactive: no new loans (running loans go on)."),
        ]
        for option in reversed(opts):
            command = option(command)
        return command
    return decorate


def _whole(kw: dict, key: str) -> int | None:
    text = kw[key]
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        raise ProductError(f"--{key.replace('_', '-')} must be a whole number, not {text!r}") from None


def _draft(kw: dict) -> products.Draft:
    names = {lang: kw.pop(f"name_{lang}") for lang in _NAME_OPTIONS}
    for text in kw.pop("names"):
        lang, name = products.parse_name(text)
        names[lang] = name
    names = {lang: name for lang, name in names.items() if name is not None}
    values = dict(names=names or None, account_prefix=kw["prefix"], ladder=kw["ladder"],
                  installments_min=_whole(kw, "installments_min"), installments_max=_whole(kw, "installments_max"),
                  frequency=(kw["frequency"] or "").strip().lower() or None,
                  first_due_within_days=_whole(kw, "first_due_within_days"), round_to=_whole(kw, "round_to"),
                  payg=kw["payg"],
                  active=kw["active"])
    return products.Draft(values, principal_min=kw["principal_min"], principal_max=kw["principal_max"])


def _echo(product, partner) -> None:
    click.echo(f"product {product.code} of {partner.name}: {', '.join(products.summary(product))}")


@click.group("product")
def product_group() -> None:
    """A lender's loan products: names, account prefix, reminder ladder, bounds, rounding, PAYG."""


@product_group.command("add")
@click.argument("code")
@_options(adding=True)
def product_add(code: str, partner_name: str, **kw) -> None:
    """Add a product CODE (what agents send and loans keep, e.g. "business loan")."""
    try:
        with session_scope() as session:
            partner = partners.find(session, partner_name)
            _echo(products.add(session, partner, code, _draft(kw), f"cli:{getpass.getuser()}"), partner)
    except (ProductError, partners.PartnerError) as exc:
        raise Refused(str(exc)) from None


@product_group.command("set")
@click.argument("code")
@_options(adding=False)
def product_set(code: str, partner_name: str, **kw) -> None:
    """Change product CODE: only the options given change (a --name adds or replaces that language's)."""
    try:
        with session_scope() as session:
            partner = partners.find(session, partner_name)
            product = products.get(session, partner, code)
            _echo(products.change(session, partner, product, _draft(kw), f"cli:{getpass.getuser()}"), partner)
    except (ProductError, partners.PartnerError) as exc:
        raise Refused(str(exc)) from None


@product_group.command("list")
@click.option("--partner", "partner_name", required=True, help="The lender's name (gateway partner list).")
def product_list(partner_name: str) -> None:
    """The lender's products, inactive ones too."""
    try:
        with session_scope() as session:
            partner = partners.find(session, partner_name)
            rows = products.listing(session, partner.id)
            width = max((len(p.code) for p in rows), default=0)
            for p in rows:
                click.echo(f"{p.code:<{width}}  " + "  ".join(products.summary(p)))
            if not rows:
                click.echo(f"{partner.name} has no products yet: gateway product add CODE --partner NAME ...")
    except partners.PartnerError as exc:
        raise Refused(str(exc)) from None
