"""stuck states: when a welcome call was placed (it times out without a final callback)

Revision ID: 0013_stuck_states
Revises: 0012_notify_payouts
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import gateway.db

revision: str = '0013_stuck_states'
down_revision: Union[str, None] = '0012_notify_payouts'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('voicecall') as batch:
        batch.add_column(sa.Column('placed_at', gateway.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('voicecall') as batch:
        batch.drop_column('placed_at')
