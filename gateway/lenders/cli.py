"""`gateway staff ...` (and `gateway partner ...`, in partner_cli.py): a lender and its staff from an
empty database. Errors are one line and exit code 2; tokens are printed once and never stored in the
clear. These commands run on the server: they act as the platform (any lender, any role)."""
from __future__ import annotations

import getpass

import click

from gateway import phones
from gateway.db import session_scope
from gateway.lenders import partners, staff
from gateway.lenders.partner_cli import partner_group
from gateway.web.roles import Role

__all__ = ["partner_group", "staff_group"]


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _fail(exc: Exception):
    click.echo(f"error: {exc}", err=True)
    raise SystemExit(2)


@click.group("staff")
def staff_group() -> None:
    """A lender's staff: field agents, call-centre agents, managers, admins, and platform staff."""


@staff_group.command("add")
@click.argument("phone")
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]),
              help="platform: the gateway's operator (every lender).")
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
