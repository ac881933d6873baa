"""`gateway pursuit rule|stopped|decide|loan`: cost against recovery from the shell (gateway/ops/costs.py).
Deciding needs a manager's or admin's phone (`--as`), checked and recorded like a console action."""
from __future__ import annotations

import click

from gateway.cli_support import ID, Refused, parse_date
from gateway.config import Settings


def _session():
    from gateway.db import session_scope
    return session_scope()


@click.group("pursuit")
def pursuit_group() -> None:
    """Cost against recovery: each product's stop rule, loans stopped, the managers' decisions."""


@pursuit_group.command("rule")
@click.option("--partner", "partner_name", required=True, help="The lender's name.")
@click.option("--product", "code", required=True, help="Product code, e.g. 'business loan'.")
@click.option("--stop/--no-stop", default=None, help="Stop reminders once pursuit costs the expected recovery.")
@click.option("--recovery-percent", type=click.IntRange(0, 100), default=None,
              help="Share of the arrears expected back (0-100).")
def rule(partner_name: str, code: str, stop: bool | None, recovery_percent: int | None) -> None:
    """Show or change a product's cost-against-recovery rule."""
    from gateway import audit
    from gateway.borrowers import catalogue
    from gateway.lenders import partners

    with _session() as session:
        try:
            product = catalogue.find(session, partners.find(session, partner_name).id, code)
        except ValueError as exc:
            raise Refused(str(exc)) from None
        if stop is not None or recovery_percent is not None:
            before = (product.stop_pursuit_over_cost, product.expected_recovery_percent)
            if stop is not None:
                product.stop_pursuit_over_cost = stop
            if recovery_percent is not None:
                product.expected_recovery_percent = recovery_percent
            session.add(product)
            audit.record(session, "cli", "product.pursuit_rule", "product", product.id,
                         before=list(before), after=[product.stop_pursuit_over_cost, product.expected_recovery_percent])
        state = "on" if product.stop_pursuit_over_cost else "off"
        click.echo(f"{product.code}: stop when cost reaches expected recovery {state}, "
                   f"expected recovery {product.expected_recovery_percent}% of arrears")


@pursuit_group.command("stopped")
@click.option("--partner", "partner_name", default=None,
              help="The lender's name (required once the gateway serves several lenders).")
def stopped(partner_name: str | None) -> None:
    """Loans whose reminders were stopped, waiting for a decision: id, loan, cost, expected recovery."""
    from gateway.money import format_money
    from gateway.ops import pursuit
    from gateway.web import scope

    with _session() as session:
        try:
            lenders = scope.cli_lenders(session, partner_name)
        except scope.NoSuchLender as exc:
            raise Refused(str(exc)) from None
        rows = pursuit.stopped_loans(session, lenders)
        for stop, loan, borrower in rows:
            cost, expected = (format_money(v, loan.currency, "en") for v in (stop.cost, stop.expected_recovery))
            click.echo(f"{stop.id:>5}  {loan.account_ref:<12} {borrower.name:<24} cost {cost:>12}  "
                       f"expected {expected:>12}  stopped {stop.stopped_at:%Y-%m-%d}")
        if not rows:
            click.echo("no loan waits for a decision")


@pursuit_group.command("decide")
@click.argument("stop_id", type=ID)
@click.argument("decision", type=click.Choice(["write_off", "restructure", "field_visit"]))
@click.option("--as", "phone", required=True, help="Phone of the manager or admin deciding.")
@click.option("--note", default="", help="Why (required for write_off and restructure).")
@click.option("--count", type=int, default=None, help="restructure: number of installments.")
@click.option("--first-due", default=None, help="restructure: first due date YYYY-MM-DD.")
@click.option("--frequency", type=click.Choice(["weekly", "monthly"]), default="monthly", show_default=True)
def decide(stop_id: int, decision: str, phone: str, note: str, count: int | None, first_due: str | None,
           frequency: str) -> None:
    """Decide on a stopped loan: write it off, restructure it, or send a field visit."""
    from gateway.ops import pursuit
    from gateway.ops.payouts_cli import _manager
    from gateway.web.roles import MANAGERS
    from gateway.web.scope import lender_ids

    plan = None
    if decision == "restructure":
        if count is None or first_due is None:
            raise Refused("restructure needs --count and --first-due")
        plan = pursuit.Restructure(count, parse_date(first_due, "--first-due"), frequency)
    with _session() as session:
        staff = _manager(session, phone)
        if staff.role not in MANAGERS:
            raise Refused(f"{staff.name} is {staff.role}: only a manager or admin decides")
        try:
            stop = pursuit.decide(session, stop_id, decision, f"agent:{staff.id}", note, restructure=plan,
                                  partner_ids=lender_ids(staff))
        except (LookupError, ValueError) as exc:
            raise Refused(str(exc.args[0])) from None
        click.echo(f"stop {stop.id}: {decision} recorded")


@pursuit_group.command("loan")
@click.argument("account_ref")
def loan_costs(account_ref: str) -> None:
    """What pursuing one loan has cost against what it recovered."""
    from sqlmodel import select

    from gateway.db import utcnow
    from gateway.models import Loan
    from gateway.money import format_money
    from gateway.ops import costs

    with _session() as session:
        loan = session.exec(select(Loan).where(Loan.account_ref == account_ref.strip().upper())).first()
        if loan is None:
            raise Refused(f"no loan {account_ref}")
        f = costs.loan_cost(session, Settings.from_env(), loan, utcnow().date())
        m = lambda v: format_money(v, loan.currency, "en")  # noqa: E731
        click.echo(f"{loan.account_ref}: pursuit cost {m(f.total)} (SMS {m(f.sms)} for {f.sms_count} reminders, "
                   f"voice {m(f.voice)}, calls {m(f.calls)} over {f.call_minutes} min, agent time {m(f.agent_time)}); "
                   f"recovered {m(f.recovered)}; arrears {m(f.arrears)}, expected recovery {m(f.expected_recovery)}")
