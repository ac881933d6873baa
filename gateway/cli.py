"""The `gateway` command. Each domain adds its commands here with `main.add_command(...)`."""
from __future__ import annotations

import click
from flask.cli import FlaskGroup

from gateway import create_app, migrate
from gateway.config import Settings
from gateway.payg.cli import payg_token


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), add_default_commands=False)
def main() -> None:
    """Repayment gateway: USSD, mobile money, SMS and voice for lenders."""


@main.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    settings = Settings.from_env()
    migrate.upgrade(settings.database_url)
    click.echo(f"database ready: {settings.database_url}")


main.add_command(payg_token)
