"""`gateway spot-check draw|report`: a lender's monthly spot check from the command line."""
from __future__ import annotations

import getpass

import click

from gateway.cli_support import Refused, write_output


@click.group("spot-check")
def spot_check_group() -> None:
    """Monthly spot checks: a random sample of a lender's loans, verified by the call centre."""


def _sizes(check) -> str:
    return ", ".join(f"{s} {check.sizes[s]['drawn']} of {check.sizes[s]['population']}" for s in check.sizes)


@spot_check_group.command("draw")
@click.option("--partner", required=True, help="The lender's name (gateway partner list).")
@click.option("--month", required=True, help="YYYY-MM (the month under way: month to date)")
@click.option("--per-stratum", default=10, show_default=True, type=int,
              help="Loans drawn from each stratum (new, arrears, repaid).")
@click.option("--seed", default=None, type=int, help="Reproduce a sample: the seed a spot check recorded.")
@click.option("--redraw", is_flag=True, help="Draw the month again (only while no call has an outcome).")
def draw(partner: str, month: str, per_stratum: int, seed: int | None, redraw: bool) -> None:
    """Draw a lender's spot check for a month; drawing a month again shows the one there is."""
    from gateway.db import session_scope
    from gateway.lenders import partners
    from gateway.ops import spotchecks

    try:
        with session_scope() as session:
            lender = partners.find(session, partner)
            check, drawn = spotchecks.draw(session, lender, month, per_stratum, seed, actor=f"cli:{getpass.getuser()}",
                                           redraw=redraw)
            calls = sum(v["drawn"] for v in check.sizes.values())
            said = "drawn" if drawn else "already drawn"
            click.echo(f"spot check {check.month} for {lender.name} {said}: seed {check.seed}, {_sizes(check)} "
                       f"({calls} calls)")
    except ValueError as exc:
        raise Refused(str(exc)) from None


@spot_check_group.command("report")
@click.option("--partner", required=True, help="The lender's name (gateway partner list).")
@click.option("--month", required=True, help="YYYY-MM")
@click.option("-o", "--output", required=True, help="FILE.csv or FILE.xlsx, or - for CSV on standard output.")
@click.option("--language", default="en", show_default=True, help="Language of the XLSX headers (en, sw, ...).")
def report(partner: str, month: str, output: str, language: str) -> None:
    """Write a spot check's compliance report: confirmed % and discrepancies by branch and agent."""
    from gateway.db import session_scope
    from gateway.lenders import partners
    from gateway.ops import reports, spotchecks
    from gateway.ops.commissions import month_bounds

    fmt = "xlsx" if output.lower().endswith(".xlsx") else "csv"
    if output != "-" and not output.lower().endswith((".csv", ".xlsx")):
        raise Refused(f"-o must name a .csv or .xlsx file, or be -, not {output!r}")
    try:
        with session_scope() as session:
            lender = partners.find(session, partner)
            month_bounds(month)
            check = spotchecks.find(session, lender.id, month)
            if check is None:
                raise Refused(f"no spot check of {month} for {lender.name}: gateway spot-check draw first")
            data = reports.render(spotchecks.report(session, check), fmt, language)
    except ValueError as exc:
        raise Refused(str(exc)) from None
    write_output(output, data)
    if output != "-":
        click.echo(f"spot-check report for {lender.name} {month} written to {output}")
