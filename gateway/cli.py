"""The `gateway` command. Each domain adds its commands here with `main.add_command(...)`."""
from __future__ import annotations

import click
from flask.cli import FlaskGroup

from gateway import create_app, migrate
from gateway.config import Settings


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), add_default_commands=False)
def main() -> None:
    """Repayment gateway: USSD, mobile money, SMS and voice for lenders."""


@main.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    settings = Settings.from_env()
    migrate.upgrade(settings.database_url)
    click.echo(f"database ready: {settings.database_url}")


@main.group("payments")
def payments() -> None:
    """Mobile-money payments: statement imports and the sweeper."""


@payments.command("import-csv")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--actor", default="cli", help="Who is importing (recorded in the audit trail).")
def payments_import_csv(file, actor: str) -> None:
    """Import an M-Pesa portal statement (CSV); receipts already received are skipped.

    Columns read: "Receipt No.", "Completion Time" (Nairobi time), "Paid In", and if present
    "Transaction Status" (only "Completed" rows), "A/C No." (else "Acc. ..." in "Details"),
    "Other Party Info" ("2547... - NAME"). Lines before the header row are ignored.
    """
    from gateway.db import session_scope
    from gateway.payments import service

    with session_scope() as session:
        report = service.import_statement(session, file.read(), actor=f"cli:{actor}")
    click.echo(f"imported {report.imported}, already received {report.already_known}, "
               f"not paid in {report.not_paid_in}, errors {len(report.errors)}")
    for line, problem in report.errors:
        click.echo(f"  line {line}: {problem}", err=True)
    if report.errors:
        raise SystemExit(1)


@payments.command("sweep")
@click.option("--older-than", default=120, show_default=True, help="Seconds a payment may wait in `received`.")
def payments_sweep(older_than: int) -> None:
    """Re-queue payments left unposted and retry failed callbacks (run it every few minutes)."""
    from gateway.workers.payments import sweep_payments

    click.echo(sweep_payments(older_than))
