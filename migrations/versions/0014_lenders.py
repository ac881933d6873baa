"""lenders: settings per lender (currency, timezone, languages, sender id), its USSD codes and
M-Pesa shortcodes (with Daraja credentials encrypted at rest); borrower identity is (lender, phone).
Today's lenders keep what the environment said: the single lender of a single-lender deployment
becomes lender 1 with the current settings and the environment's shortcode.

Revision ID: 0014_lenders
Revises: 0013_stuck_states
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

from gateway.config import Settings

revision: str = '0014_lenders'
down_revision: Union[str, None] = '0013_stuck_states'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    settings = Settings.from_env()
    with op.batch_alter_table('fieldpartner') as batch:
        batch.add_column(sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False,
                                   server_default='KES'))
        batch.add_column(sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False,
                                   server_default=settings.default_timezone))
        batch.add_column(sa.Column('languages', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False,
                                   server_default='sw,en'))
        batch.add_column(sa.Column('sender_id', sqlmodel.sql.sqltypes.AutoString(length=11), nullable=False,
                                   server_default=settings.at_sender_id[:11]))
    code = op.create_table('lendercode',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('field_partner_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('credentials', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.ForeignKeyConstraint(['field_partner_id'], ['fieldpartner.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'code', 'field_partner_id')
    )
    with op.batch_alter_table('lendercode') as batch:
        batch.create_index(batch.f('ix_lendercode_field_partner_id'), ['field_partner_id'], unique=False)
        batch.create_index(batch.f('ix_lendercode_code'), ['code'], unique=False)
    partners = op.get_bind().execute(sa.text("SELECT id, paybill FROM fieldpartner ORDER BY id")).all()
    rows = [dict(field_partner_id=pid, kind='shortcode', code=paybill, credentials='')
            for pid, paybill in partners if paybill]
    if len(partners) == 1 and settings.mpesa_shortcode and settings.mpesa_shortcode != partners[0][1]:
        rows.append(dict(field_partner_id=partners[0][0], kind='shortcode', code=settings.mpesa_shortcode,
                         credentials=''))
    if rows:
        op.bulk_insert(code, rows)
    with op.batch_alter_table('borrower') as batch:
        batch.drop_index('ix_borrower_phone')
        batch.create_index('ix_borrower_phone', ['phone'], unique=False)
        batch.create_unique_constraint('uq_borrower_field_partner_id_phone', ['field_partner_id', 'phone'])


def downgrade() -> None:
    with op.batch_alter_table('borrower') as batch:
        batch.drop_constraint('uq_borrower_field_partner_id_phone', type_='unique')
        batch.drop_index('ix_borrower_phone')
        batch.create_index('ix_borrower_phone', ['phone'], unique=True)
    with op.batch_alter_table('lendercode') as batch:
        batch.drop_index(batch.f('ix_lendercode_code'))
        batch.drop_index(batch.f('ix_lendercode_field_partner_id'))
    op.drop_table('lendercode')
    with op.batch_alter_table('fieldpartner') as batch:
        for column in ('sender_id', 'languages', 'timezone', 'currency'):
            batch.drop_column(column)
