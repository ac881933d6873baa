"""`gateway portfolio import FILE --partner NAME`: a lender's existing loans (importing.py)."""
from __future__ import annotations

import getpass
from pathlib import Path

import click

from gateway.cli_support import Refused


@click.group("portfolio")
def portfolio_group() -> None:
    """A lender's existing portfolio: borrowers, loans, schedules and what was paid to date."""


@portfolio_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--partner", "partner_name", required=True, help="The lender the loans belong to.")
@click.option("--schedules", type=click.Path(exists=True, dir_okay=False),
              help="CSV of installments (external_id, due_date, principal, interest, fees) for loans given "
                   "without terms; an XLSX may carry them in a sheet named 'schedules'.")
@click.option("--dry-run", is_flag=True, help="Check every row and say what would change; write nothing.")
@click.option("--skip-bad-rows", is_flag=True, help="Import the good rows even if some are bad (default: "
                                                     "a file with a bad row imports nothing).")
def portfolio_import(file: str, partner_name: str, schedules: str | None, dry_run: bool, skip_bad_rows: bool) -> None:
    """Import loans from our template (docs/portfolio_template.csv) or a Fineract / Mifos X loan
    export, CSV or XLSX. Idempotent on (lender, external_id): the same file again changes nothing.
    Bad rows are listed as `line N: reason`; exit code 1 when there are any. No SMS is sent."""
    from gateway.borrowers import importing, importing_formats
    from gateway.db import session_scope
    from gateway.lenders import partners

    try:
        table = importing_formats.read(Path(file).read_bytes(), Path(file).name,
                                       Path(schedules).read_bytes() if schedules else None)
    except importing_formats.FormatError as exc:
        raise Refused(str(exc)) from None
    with session_scope() as session:
        try:
            partner = partners.find(session, partner_name)
        except partners.PartnerError as exc:
            raise Refused(str(exc)) from None
        report = importing.run(session, partner, table, actor=f"cli:{getpass.getuser()}", dry_run=dry_run,
                               skip_bad_rows=skip_bad_rows)
    for line, problem in report.errors:
        click.echo(f"line {line}: {problem}", err=True)
    if report.errors and not report.written and not skip_bad_rows:
        click.echo(f"{len(report.errors)} bad rows: nothing imported (fix them, or use --skip-bad-rows)", err=True)
    else:
        click.echo(("dry run: " if dry_run else "") + report.summary())
    if report.errors:
        raise SystemExit(1)
