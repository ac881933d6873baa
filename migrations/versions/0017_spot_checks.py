"""spot checks: a monthly random sample of a lender's loans, called to verify them

Revision ID: 0017_spot_checks
Revises: 0014_lenders
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

import gateway.db

revision: str = '0017_spot_checks'
down_revision: Union[str, None] = '0014_lenders'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('spotcheck',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('field_partner_id', sa.Integer(), nullable=False),
    sa.Column('month', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
    sa.Column('seed', sa.BigInteger(), nullable=False),
    sa.Column('per_stratum', sa.Integer(), nullable=False),
    sa.Column('sizes', sa.JSON(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('created_at', gateway.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['field_partner_id'], ['fieldpartner.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('field_partner_id', 'month')
    )
    with op.batch_alter_table('spotcheck', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spotcheck_field_partner_id'), ['field_partner_id'], unique=False)

    op.create_table('spotcheckcall',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('spot_check_id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('stratum', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('called_at', gateway.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.ForeignKeyConstraint(['loan_id'], ['loan.id'], ),
    sa.ForeignKeyConstraint(['spot_check_id'], ['spotcheck.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('spot_check_id', 'loan_id')
    )
    with op.batch_alter_table('spotcheckcall', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spotcheckcall_spot_check_id'), ['spot_check_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_spotcheckcall_loan_id'), ['loan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_spotcheckcall_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('spotcheckcall', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spotcheckcall_status'))
        batch_op.drop_index(batch_op.f('ix_spotcheckcall_loan_id'))
        batch_op.drop_index(batch_op.f('ix_spotcheckcall_spot_check_id'))
    op.drop_table('spotcheckcall')
    with op.batch_alter_table('spotcheck', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spotcheck_field_partner_id'))
    op.drop_table('spotcheck')
