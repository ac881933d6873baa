"""product catalogue per lender, seeded for the lenders there are with today's two products

Revision ID: 0010_products
Revises: 0007_payment_faults
Create Date: 2026-12-01 15:30:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0010_products'
down_revision: Union[str, None] = '0007_payment_faults'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# The catalogue as it stood (gateway/borrowers/products.toml at this revision), amounts in cents of KES.
PRODUCTS = [
    dict(code="business loan", account_prefix="BIZ", ladder="business loan", currency="KES",
         names={"en": "business loan", "es": "préstamo para negocio", "fr": "prêt commercial",
                "sw": "mkopo wa biashara"},
         principal_min=500000, principal_max=50000000, installments_min=1, installments_max=24, frequency="monthly",
         first_due_within_days=45, round_to=1, payg=False, active=True),
    dict(code="solar home system", account_prefix="SOL", ladder="solar home system", currency="KES",
         names={"en": "solar home system", "es": "sistema solar doméstico", "fr": "kit solaire domestique",
                "sw": "mfumo wa sola wa nyumbani"},
         principal_min=500000, principal_max=6000000, installments_min=4, installments_max=104, frequency="weekly",
         first_due_within_days=14, round_to=1, payg=True, active=True),
]


def upgrade() -> None:
    product = op.create_table('product',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('field_partner_id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('names', sa.JSON(), nullable=False),
    sa.Column('account_prefix', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('ladder', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('principal_min', sa.BigInteger(), nullable=False),
    sa.Column('principal_max', sa.BigInteger(), nullable=False),
    sa.Column('installments_min', sa.Integer(), nullable=False),
    sa.Column('installments_max', sa.Integer(), nullable=False),
    sa.Column('frequency', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('first_due_within_days', sa.Integer(), nullable=False),
    sa.Column('round_to', sa.Integer(), nullable=False),
    sa.Column('payg', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['field_partner_id'], ['fieldpartner.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('field_partner_id', 'code')
    )
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_field_partner_id'), ['field_partner_id'], unique=False)
    partners = [row[0] for row in op.get_bind().execute(sa.text("SELECT id FROM fieldpartner"))]
    if partners:
        op.bulk_insert(product, [dict(p, field_partner_id=pid) for pid in partners for p in PRODUCTS])


def downgrade() -> None:
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_field_partner_id'))
    op.drop_table('product')
