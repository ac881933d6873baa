"""product ladders: reminder ladders are named for their rhythm (monthly, weekly) in ladders.toml, and a
product names its ladder. Products that named the ladder after themselves name the new one. An account
prefix is one product's per lender.

Revision ID: 0019_product_ladders
Revises: 0018_pursuit_cost
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0019_product_ladders'
down_revision: Union[str, None] = '0018_pursuit_cost'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

RENAMED = {"business loan": "monthly", "solar home system": "weekly"}  # ladders.toml's old keys -> names


def _rename(pairs) -> None:
    for old, new in pairs:
        op.get_bind().execute(sa.text("UPDATE product SET ladder = :new WHERE ladder = :old"), {"old": old, "new": new})


def upgrade() -> None:
    _rename(RENAMED.items())
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_product_field_partner_id_prefix', ['field_partner_id', 'account_prefix'])


def downgrade() -> None:
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.drop_constraint('uq_product_field_partner_id_prefix', type_='unique')
    _rename((new, old) for old, new in RENAMED.items())
