"""one lender per shortcode: a unique index on lendercode.code where kind is 'shortcode' (the
application checked it; two admins claiming the same paybill at once could both win)

Revision ID: 0022_one_lender_per_shortcode
Revises: 0021_portfolio_import
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0022_one_lender_per_shortcode'
down_revision: Union[str, None] = '0021_portfolio_import'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

WHERE = sa.text("kind = 'shortcode'")


def upgrade() -> None:
    op.create_index('uq_lendercode_shortcode', 'lendercode', ['code'], unique=True,
                    sqlite_where=WHERE, postgresql_where=WHERE)


def downgrade() -> None:
    op.drop_index('uq_lendercode_shortcode', table_name='lendercode')
