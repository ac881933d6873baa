"""`gateway payg-token`: an operator's code from the command line (same rules as the API)."""
from __future__ import annotations

import getpass

import click

from gateway.cli_support import Refused
from gateway.db import session_scope
from gateway.payg import service


@click.command("payg-token")
@click.argument("serial")
@click.option("--kind", type=click.Choice(sorted(service.KINDS)), default="add_time", show_default=True)
@click.option("--days", type=int, default=0, help="days of light to add (add_time only)")
@click.option("--reason", required=True, help="why the code is given; kept in the audit trail")
def payg_token(serial: str, kind: str, days: int, reason: str) -> None:
    """Issue a code for a PAYG device by hand (goodwill days, counter sync, unlock); SMS to the borrower."""
    try:
        with session_scope() as session:
            token = service.issue_manual_token(session, serial, kind, days=days, reason=reason,
                                               actor=f"cli:{getpass.getuser()}")
            click.echo(f"{serial.upper()} count {token.count}: {service.group_code(token.token)} ({kind}, {days} days)")
    except service.PaygError as exc:
        raise Refused(str(exc)) from None
