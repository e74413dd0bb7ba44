"""call_legs: who asked for a transfer, its kind, when it was asked and when it was settled

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('call_legs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('transfer_kind', sa.String(length=16), server_default='', nullable=False))
        batch_op.add_column(sa.Column('by_agent', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('requested_at', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('settled_at', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('call_legs', schema=None) as batch_op:
        batch_op.drop_column('settled_at')
        batch_op.drop_column('requested_at')
        batch_op.drop_column('by_agent')
        batch_op.drop_column('transfer_kind')
