"""`gateway payg-token`: an operator's code from the command line; `gateway payg-device`: a device
installed on a loan (for loans that came in a portfolio file). Same rules as the API."""
from __future__ import annotations

import getpass

import click
from sqlmodel import select

from gateway.borrowers.accounts import normalize_account_ref
from gateway.cli_support import Refused
from gateway.db import session_scope
from gateway.models import Loan
from gateway.money import MoneyError, from_minor, to_minor
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


@click.command("payg-device")
@click.argument("account_ref")
@click.option("--serial", required=True, help="The device's serial number.")
@click.option("--daily-rate", required=True, help="What a day of light costs, in major units (50 or 50.00).")
@click.option("--secret-key-file", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="A file holding the device's 32-hex-character OpenPAYGO key (- : standard input); "
                   "never on the command line, where shell history keeps it.")
@click.option("--restricted-digits", is_flag=True, help="The device's keypad has only the digits 1 to 4.")
@click.option("--starting-code", type=int, default=None, help="The device's OpenPAYGO starting code, if not the key's.")
def payg_device(account_ref: str, serial: str, daily_rate: str, secret_key_file: str, restricted_digits: bool,
                starting_code: int | None) -> None:
    """Register the PAYG device installed for the loan ACCOUNT_REF (a loan of a PAYG product); SMS to the borrower."""
    try:
        with click.open_file(secret_key_file) as fh:
            secret_key = fh.read().strip()
    except OSError as exc:
        raise Refused(f"cannot read {secret_key_file}: {exc.strerror}") from None
    ref = normalize_account_ref(account_ref)
    try:
        with session_scope() as session:
            loan = session.exec(select(Loan).where(Loan.account_ref == ref)).first()
            if loan is None:
                raise service.PaygError(f"no loan with account number {ref}")
            rate = to_minor(daily_rate, loan.currency)
            device = service.register_device(session, loan, serial, secret_key, rate,
                                             restricted_digits=restricted_digits, starting_code=starting_code,
                                             actor=f"cli:{getpass.getuser()}")
            restricted = ", restricted digits" if device.restricted_digits else ""
            click.echo(f"device {device.serial} registered on loan {loan.account_ref}: "
                       f"{from_minor(device.daily_rate, loan.currency)} {loan.currency} a day{restricted}")
    except (service.PaygError, MoneyError) as exc:
        raise Refused(str(exc)) from None
