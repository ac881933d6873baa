from alembic import context
from sqlmodel import SQLModel

import gateway.models  # noqa: F401  (registers every table)
from gateway.config import Settings
from gateway.db import engine_for

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    url = context.config.attributes.get("database_url") or Settings.from_env().database_url
    connectable = context.config.attributes.get("connection") or engine_for(url)
    if hasattr(connectable, "connect"):
        with connectable.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
