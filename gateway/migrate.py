"""Schema migrations (Alembic), callable from the CLI and the tests."""
from __future__ import annotations

from alembic import command
from alembic.config import Config

from gateway.config import ROOT


def alembic_config(database_url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")
