"""portfolio import: each imported loan named by (lender, the lender's own loan id)

Revision ID: 0021_portfolio_import
Revises: 0020_payment_lender
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

from gateway.db import UTCDateTime

revision: str = '0021_portfolio_import'
down_revision: Union[str, None] = '0020_payment_lender'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('importedloan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('field_partner_id', sa.Integer(), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('imported_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['field_partner_id'], ['fieldpartner.id'], ),
    sa.ForeignKeyConstraint(['loan_id'], ['loan.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('field_partner_id', 'external_id'),
    sa.UniqueConstraint('loan_id')
    )
    with op.batch_alter_table('importedloan', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_importedloan_field_partner_id'), ['field_partner_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('importedloan', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_importedloan_field_partner_id'))
    op.drop_table('importedloan')
