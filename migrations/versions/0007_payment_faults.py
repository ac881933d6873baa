"""payment faults: reversals waiting for their payment, conflicting duplicate receipts

Revision ID: 0007_payment_faults
Revises: 0006_ops
Create Date: 2026-12-01 15:30:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

import gateway.db

revision: str = '0007_payment_faults'
down_revision: Union[str, None] = '0006_ops'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('pendingreversal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('original_txn_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('reversal_txn_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('received_at', gateway.db.UTCDateTime(), nullable=False),
    sa.Column('matched_at', gateway.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('provider', 'original_txn_id')
    )
    with op.batch_alter_table('pendingreversal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pendingreversal_status'), ['status'], unique=False)

    op.create_table('paymentconflict',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('account_ref', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('payer_phone', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('received_at', gateway.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('payment_id', 'amount', 'currency', 'account_ref')
    )
    with op.batch_alter_table('paymentconflict', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_paymentconflict_payment_id'), ['payment_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('paymentconflict', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_paymentconflict_payment_id'))
    op.drop_table('paymentconflict')
    with op.batch_alter_table('pendingreversal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pendingreversal_status'))
    op.drop_table('pendingreversal')
