"""`gateway commissions statements|generate|approve|return|payout`: commission statements from the shell.
Deciding needs a manager's or admin's phone (`--as`), checked and recorded like a console action."""
from __future__ import annotations

import click

from gateway.cli_support import ID, Refused
from gateway.config import Settings
from gateway.web.roles import MANAGERS, Role


def _manager(session, phone: str):
    from sqlmodel import select

    from gateway import phones
    from gateway.models import Agent

    e164 = phones.try_normalize(phone, Settings.from_env().default_country)
    agent = e164 and session.exec(select(Agent).where(Agent.phone == e164, Agent.active)).first()
    if not agent:
        raise Refused(f"no active staff member with phone {phone}")
    return agent


def _run(work):
    from gateway.db import session_scope
    from gateway.ops import payouts
    from gateway.web import scope

    try:
        with session_scope() as session:
            return work(session, payouts)
    except scope.NoSuchLender as exc:
        raise Refused(str(exc)) from None
    except (ValueError, payouts.NotAllowed, payouts.NotFound) as exc:
        raise Refused(exc.args[0]) from None


def _lenders(session, partner: str | None):
    from gateway.web import scope

    return scope.cli_lenders(session, partner)


def _own_statement(session, statement_id: int, manager) -> None:
    """A manager decides only on their own lender's statements: another lender's is 'no statement'."""
    from gateway.models import CommissionStatement
    from gateway.ops import payouts
    from gateway.web import scope

    if scope.lender_of(session, CommissionStatement, statement_id) not in (None, manager.field_partner_id):
        raise payouts.NotFound(f"no statement {statement_id}")


@click.group("commissions")
def commissions_group() -> None:
    """Commission statements: generate, approve or return, pay out (M-Pesa bulk file)."""


@commissions_group.command("generate")
@click.option("--month", required=True, help="YYYY-MM")
@click.option("--partner", default=None, help="The lender (its name); required when there are several.")
def generate(month: str, partner: str | None) -> None:
    """Make the month's statements of one lender (pending and returned ones are rebuilt)."""
    made = _run(lambda s, p: [(st.id, st.status) for st in p.generate(s, month, Settings.from_env(), "cli",
                                                                        _lenders(s, partner))])
    click.echo(f"{len(made)} statements for {month}")


@commissions_group.command("statements")
@click.option("--month", default=None, help="YYYY-MM")
@click.option("--status", default=None)
@click.option("--partner", default=None, help="The lender (its name); required when there are several.")
def statements(month: str | None, status: str | None, partner: str | None) -> None:
    """List one lender's statements: id, month, agent, total, status."""
    from gateway.models import Agent
    from gateway.money import format_money

    everyone = Agent(id=0, name="cli", phone="", role=Role.ADMIN, field_partner_id=0)  # all of the lender's
    for st in _run(lambda s, p: p.visible(s, everyone, month, status, _lenders(s, partner))):
        note = f"  ({st['note']})" if st["note"] else ""
        total = format_money(st["total"], st["currency"], "en")
        click.echo(f"{st['id']:>5}  {st['month']}  {st['agent']:<24} {total:>14}  {st['status']}{note}")


@commissions_group.command("approve")
@click.argument("statement_id", type=ID)
@click.option("--as", "phone", required=True, help="phone of the approving manager or admin")
def approve(statement_id: int, phone: str) -> None:
    """Approve a pending statement."""
    def work(s, p):
        manager = _manager(s, phone)
        _own_statement(s, statement_id, manager)
        return p.approve(s, statement_id, manager)

    _run(work)
    click.echo(f"statement {statement_id} approved")


@commissions_group.command("return")
@click.argument("statement_id", type=ID)
@click.option("--as", "phone", required=True, help="phone of the manager or admin")
@click.option("--note", required=True, help="why it goes back")
def send_back(statement_id: int, phone: str, note: str) -> None:
    """Send a pending statement back with a note."""
    def work(s, p):
        manager = _manager(s, phone)
        _own_statement(s, statement_id, manager)
        return p.send_back(s, statement_id, manager, note)

    _run(work)
    click.echo(f"statement {statement_id} returned")


@commissions_group.command("payout")
@click.option("--as", "phone", required=True, help="phone of the manager or admin exporting it")
@click.option("--month", default=None, help="only this month's approved statements (YYYY-MM)")
@click.option("--currency", default="KES", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), required=True)
def payout(phone: str, month: str | None, currency: str, fmt: str, output: str) -> None:
    """Mark approved statements paid and write Finance's M-Pesa bulk (B2C) payment file."""
    def work(s, p):
        manager = _manager(s, phone)
        if manager.role not in MANAGERS:
            raise p.NotAllowed("only a manager or an admin exports payouts")
        mine = (manager.field_partner_id,)  # the manager's own lender's statements
        batch = p.pay(s, f"agent:{manager.id}", currency, month, mine)
        s.flush()
        rows = p.batch_rows(s, batch, mine)
        return batch, rows, p.render(rows, fmt)

    batch, rows, data = _run(work)
    with open(output, "wb") as fh:
        fh.write(data)
    click.echo(f"batch {batch}: {len(rows)} payments written to {output}")
