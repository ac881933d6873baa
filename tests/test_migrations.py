"""The Alembic migrations build exactly the schema the models describe, column types included."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from gateway.db import engine_for


def test_migrations_match_models(database_url):
    with engine_for(database_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == [], f"models and migrations differ; run `alembic revision --autogenerate`: {diff}"
