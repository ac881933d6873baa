"""call-back requests become call-centre tasks with an outcome

Revision ID: 0011_callback_tasks
Revises: 0010_products
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

import gateway.db

revision: str = '0011_callback_tasks'
down_revision: Union[str, None] = '0010_products'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('callbackrequest') as batch:
        batch.add_column(sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False,
                                   server_default=''))
        batch.add_column(sa.Column('handled_at', gateway.db.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('handled_by', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('call_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_callbackrequest_handled_by_agent', 'agent', ['handled_by'], ['id'])
        batch.create_foreign_key('fk_callbackrequest_call_id_calllog', 'calllog', ['call_id'], ['id'])
    with op.batch_alter_table('callbackrequest') as batch:
        batch.alter_column('outcome', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('callbackrequest') as batch:
        batch.drop_constraint('fk_callbackrequest_call_id_calllog', type_='foreignkey')
        batch.drop_constraint('fk_callbackrequest_handled_by_agent', type_='foreignkey')
        batch.drop_column('call_id')
        batch.drop_column('handled_by')
        batch.drop_column('handled_at')
        batch.drop_column('outcome')
