"""`gateway report`, `gateway ops-daily`, `gateway set-password`: collections operations."""
from __future__ import annotations

from pathlib import Path

import click

from gateway.cli_support import Refused, parse_date, write_output
from gateway.config import Settings


@click.command("report")
@click.argument("name", type=click.Choice(["collections", "funders", "commissions", "messaging", "pursuit-cost"]))
@click.option("--month", required=True, help="YYYY-MM (the current month: month to date)")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default=None,
              help="Default: the output file's extension (.xlsx or .csv), csv for -.")
@click.option("-o", "--output", required=True, help="File to write, or - for standard output.")
@click.option("--language", default="en", show_default=True, help="Language of the XLSX headers (en, sw, ...).")
@click.option("--partner", default=None, help="The lender (its name); required when there are several.")
def report(name: str, month: str, fmt: str, output: str, language: str, partner: str | None) -> None:
    """Write a monthly collections-operations report (CSV or XLSX) of one lender."""
    from gateway.db import session_scope
    from gateway.ops import reports
    from gateway.web import scope

    fmt = _format(fmt, output)
    try:
        with session_scope() as session:
            built = reports.build(session, name, month, Settings.from_env(),
                                  lenders=scope.cli_lenders(session, partner))
            data = reports.render(built, fmt, language)
    except ValueError as exc:
        raise Refused(str(exc)) from None
    write_output(output, data)
    if output != "-":
        to_date = f" (month to date, as of {built.as_of})" if built.as_of else ""
        click.echo(f"{name} report for {month}{to_date} written to {output}")


def _format(fmt: str | None, output: str) -> str:
    """`-o report.xlsx` is an XLSX file: never a CSV under that name."""
    suffix = Path(output).suffix.lower().lstrip(".")
    if fmt is None:
        return "xlsx" if suffix == "xlsx" else "csv"
    if suffix in ("csv", "xlsx") and suffix != fmt:
        raise Refused(f"--format {fmt} does not match the file name {output}")
    return fmt


@click.command("ops-daily")
@click.option("--date", "day", default=None, help="YYYY-MM-DD, today or earlier (default: today in DEFAULT_TIMEZONE)")
def ops_daily(day: str | None) -> None:
    """Daily collections housekeeping: decide kept/broken promises, raise new flags."""
    from gateway.workers.ops import FutureDate, daily_collections

    if day is not None:
        day = parse_date(day, "--date").isoformat()
    try:
        result = daily_collections(day)
    except FutureDate as exc:
        raise Refused(str(exc)) from None
    click.echo(f"{result['date']}: {len(result['promises'])} promises evaluated, {len(result['flags'])} flags raised")


@click.command("set-password")
@click.argument("phone")
@click.password_option(help="At least 10 characters; asked twice when not given.")
def set_password(phone: str, password: str) -> None:
    """Give a staff member (agent) a password for the operator console."""
    from sqlmodel import select

    from gateway import audit, phones
    from gateway.db import session_scope
    from gateway.models import Agent
    from gateway.web.console_session import set_password as hash_into

    settings = Settings.from_env()
    e164 = phones.try_normalize(phone, settings.default_country)
    with session_scope() as session:
        agent = e164 and session.exec(select(Agent).where(Agent.phone == e164)).first()
        if not agent:
            raise Refused(f"no staff member with phone {phone}")
        try:
            hash_into(agent, password)
        except ValueError as exc:
            raise Refused(str(exc)) from None
        session.add(agent)
        audit.record(session, "cli", "agent.password_set", "agent", agent.id)
    click.echo(f"password set for {agent.name} ({agent.role})")
