"""`gateway partner ...` and `gateway staff ...`: a lender and its staff from an empty database.
Errors are one line and exit code 2; tokens are printed once and never stored in the clear."""
from __future__ import annotations

import getpass

import click

from gateway import phones
from gateway.db import session_scope
from gateway.lenders import partners, staff
from gateway.web.roles import Role


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _fail(exc: Exception):
    click.echo(f"error: {exc}", err=True)
    raise SystemExit(2)


@click.group("partner")
def partner_group() -> None:
    """Lenders (field partners) using this gateway."""


@partner_group.command("add")
@click.argument("name")
@click.option("--help-line", required=True, help="The number borrowers call, shown on USSD and in SMS.")
@click.option("--paybill", default="", help="M-Pesa paybill (business short code) borrowers pay to.")
@click.option("--country", default="KE", show_default=True, help="ISO country code of the lender's borrowers.")
def partner_add(name: str, help_line: str, paybill: str, country: str) -> None:
    """Add a lender."""
    try:
        with session_scope() as session:
            partner = partners.add(session, name, _actor(), help_line=help_line, paybill=paybill, country=country)
            click.echo(f"lender {partner.id}: {partner.name} ({partner.country}, paybill {partner.paybill or '-'})")
    except partners.PartnerError as exc:
        _fail(exc)


@partner_group.command("set")
@click.argument("name")
@click.option("--help-line")
@click.option("--paybill")
@click.option("--country")
def partner_set(name: str, help_line: str | None, paybill: str | None, country: str | None) -> None:
    """Change a lender's help line, paybill or country."""
    try:
        with session_scope() as session:
            partner = partners.change(session, partners.find(session, name), _actor(), help_line=help_line,
                                      paybill=paybill, country=country)
            click.echo(f"lender {partner.id}: {partner.name} ({partner.country}, paybill {partner.paybill or '-'}, "
                       f"help line {partner.help_line})")
    except partners.PartnerError as exc:
        _fail(exc)


@partner_group.command("list")
def partner_list() -> None:
    """Every lender."""
    from sqlmodel import select

    from gateway.models import FieldPartner

    with session_scope() as session:
        rows = session.exec(select(FieldPartner).order_by(FieldPartner.name)).all()
        for p in rows:
            click.echo(f"{p.id:>4}  {p.name:<30} {p.country}  paybill {p.paybill or '-':<10} help {p.help_line}")
        if not rows:
            click.echo("no lenders yet: gateway partner add NAME --help-line ...")


@click.group("staff")
def staff_group() -> None:
    """A lender's staff: field agents, call-centre agents, managers, admins."""


@staff_group.command("add")
@click.argument("phone")
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--partner", "partner_name", required=True, help="The lender's name (gateway partner list).")
@click.option("--branch", default="")
def staff_add(phone: str, name: str, role: str, partner_name: str, branch: str) -> None:
    """Add a staff member; prints their API token once."""
    try:
        with session_scope() as session:
            partner = partners.find(session, partner_name)
            agent, token = staff.add(session, partner, phone, name, role, _actor(), branch=branch)
            click.echo(f"staff {agent.id}: {agent.name} ({agent.role}, {partner.name}) {phones.mask(agent.phone)}")
            click.echo(f"API token (shown once): {token}")
    except (staff.StaffError, partners.PartnerError) as exc:
        _fail(exc)


@staff_group.command("token")
@click.argument("phone")
def staff_token(phone: str) -> None:
    """Issue a new API token; the old one stops working at once."""
    try:
        with session_scope() as session:
            token = staff.new_token(session, staff.find(session, phone), _actor())
            click.echo(f"API token (shown once): {token}")
    except staff.StaffError as exc:
        _fail(exc)


@staff_group.command("disable")
@click.argument("phone")
def staff_disable(phone: str) -> None:
    """End all of a staff member's access (API token, console password and session)."""
    try:
        with session_scope() as session:
            agent = staff.find(session, phone)
            changed = staff.disable(session, agent, _actor())
            click.echo(f"staff {agent.id} {'disabled' if changed else 'was already disabled'}")
    except staff.StaffError as exc:
        _fail(exc)


@staff_group.command("list")
@click.option("--partner", "partner_name", default="", help="Only this lender's staff.")
def staff_list(partner_name: str) -> None:
    """Staff with their role, lender and whether they can sign in."""
    try:
        with session_scope() as session:
            partner = partners.find(session, partner_name) if partner_name else None
            for agent, p in staff.listing(session, partner):
                access = "active" if agent.active else "disabled"
                console = "console" if agent.password_hash else "no console password"
                click.echo(f"{agent.id:>4}  {phones.mask(agent.phone)}  {agent.role:<10} {p.name:<24} {agent.name} "
                           f"({access}, {console})")
    except partners.PartnerError as exc:
        _fail(exc)
