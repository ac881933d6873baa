"""payment lender: the lender whose M-Pesa shortcode a payment was sent to (its loans only are
matched); empty for payments that do not say (manual, AT, STK before this, single-lender deployments)

Revision ID: 0020_payment_lender
Revises: 0019_product_ladders
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0020_payment_lender'
down_revision: Union[str, None] = '0019_product_ladders'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('payment') as batch:
        batch.add_column(sa.Column('field_partner_id', sa.Integer(), nullable=True))
        batch.create_index(batch.f('ix_payment_field_partner_id'), ['field_partner_id'], unique=False)
        batch.create_foreign_key('fk_payment_field_partner_id', 'fieldpartner', ['field_partner_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('payment') as batch:
        batch.drop_constraint('fk_payment_field_partner_id', type_='foreignkey')
        batch.drop_index(batch.f('ix_payment_field_partner_id'))
        batch.drop_column('field_partner_id')
