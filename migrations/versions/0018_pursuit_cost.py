"""pursuit cost: call durations, what AT charged per voice call, each product's cost-against-recovery rule,
and loans whose automated pursuit is stopped for a manager to decide

Revision ID: 0018_pursuit_cost
Revises: 0017_spot_checks
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

import gateway.db

revision: str = '0018_pursuit_cost'
down_revision: Union[str, None] = '0017_spot_checks'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('product') as batch:
        batch.add_column(sa.Column('stop_pursuit_over_cost', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column('expected_recovery_percent', sa.Integer(), nullable=False,
                                   server_default='50'))
    with op.batch_alter_table('calllog') as batch:
        batch.add_column(sa.Column('duration_seconds', sa.Integer(), nullable=True))
    with op.batch_alter_table('voicecall') as batch:
        batch.add_column(sa.Column('cost_minor', sa.BigInteger(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('cost_currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False,
                                   server_default=''))
    op.create_table('pursuitstop',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('cost', sa.BigInteger(), nullable=False),
    sa.Column('expected_recovery', sa.BigInteger(), nullable=False),
    sa.Column('arrears', sa.BigInteger(), nullable=False),
    sa.Column('stopped_at', gateway.db.UTCDateTime(), nullable=False),
    sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('decided_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('decided_at', gateway.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['loan_id'], ['loan.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('loan_id')
    )
    with op.batch_alter_table('pursuitstop') as batch:
        batch.create_index(batch.f('ix_pursuitstop_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pursuitstop') as batch:
        batch.drop_index(batch.f('ix_pursuitstop_status'))
    op.drop_table('pursuitstop')
    with op.batch_alter_table('voicecall') as batch:
        batch.drop_column('cost_currency')
        batch.drop_column('cost_minor')
    with op.batch_alter_table('calllog') as batch:
        batch.drop_column('duration_seconds')
    with op.batch_alter_table('product') as batch:
        batch.drop_column('expected_recovery_percent')
        batch.drop_column('stop_pursuit_over_cost')
