"""records: calls, legs, agent states, callbacks, surveys, audit

Revision ID: 0001
Revises: (none: the first schema)
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agent_states',
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('agent_id', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=64), server_default='', nullable=False),
    sa.Column('call_id', sa.String(length=80), server_default='', nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.Column('until', sa.Float(), nullable=True),
    sa.Column('node', sa.String(length=128), server_default='', nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_agent_states'))
    )
    with op.batch_alter_table('agent_states', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_states_agent_id_at_event_id_state'), ['agent_id', 'at', 'event_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_agent_states_at'), ['at'], unique=False)

    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.Column('user', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=32), server_default='', nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.Text(), server_default='', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)

    op.create_table('call_legs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('call_id', sa.String(length=80), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=80), server_default='', nullable=False),
    sa.Column('status', sa.String(length=24), server_default='', nullable=False),
    sa.Column('at', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_legs')),
    sa.UniqueConstraint('call_id', 'seq', name=op.f('uq_call_legs_call_id_seq'))
    )
    op.create_table('callbacks',
    sa.Column('callback_id', sa.String(length=80), nullable=False),
    sa.Column('missed_call_id', sa.String(length=80), server_default='', nullable=False),
    sa.Column('caller', sa.String(length=32), server_default='', nullable=False),
    sa.Column('queue', sa.String(length=32), server_default='', nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('deadline_at', sa.Float(), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('outcome', sa.String(length=24), server_default='', nullable=False),
    sa.Column('ended_at', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('callback_id', name=op.f('pk_callbacks'))
    )
    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_callbacks_created_at'), ['created_at'], unique=False)

    op.create_table('calls',
    sa.Column('call_id', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=16), server_default='inbound', nullable=False),
    sa.Column('started_at', sa.Float(), nullable=False),
    sa.Column('answered_at', sa.Float(), nullable=True),
    sa.Column('queued_at', sa.Float(), nullable=True),
    sa.Column('agent_answered_at', sa.Float(), nullable=True),
    sa.Column('ended_at', sa.Float(), nullable=True),
    sa.Column('dialled', sa.String(length=32), server_default='', nullable=False),
    sa.Column('caller', sa.String(length=32), server_default='', nullable=False),
    sa.Column('center', sa.String(length=32), server_default='', nullable=False),
    sa.Column('queue', sa.String(length=32), server_default='', nullable=False),
    sa.Column('agent_id', sa.String(length=64), server_default='', nullable=False),
    sa.Column('flow', sa.String(length=64), server_default='', nullable=False),
    sa.Column('flow_version', sa.String(length=64), server_default='', nullable=False),
    sa.Column('flow_path', sa.Text(), server_default='', nullable=False),
    sa.Column('keys', sa.String(length=128), server_default='', nullable=False),
    sa.Column('outcome', sa.String(length=24), server_default='', nullable=False),
    sa.Column('reason', sa.Text(), server_default='', nullable=False),
    sa.Column('abandoned_in', sa.String(length=8), server_default='', nullable=False),
    sa.Column('out_of_remit', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('wait_s', sa.Float(), nullable=True),
    sa.Column('to_person_s', sa.Float(), nullable=True),
    sa.Column('talk_s', sa.Float(), server_default='0', nullable=False),
    sa.Column('wrapup_s', sa.Float(), server_default='0', nullable=False),
    sa.Column('transfers', sa.Integer(), server_default='0', nullable=False),
    sa.Column('transfer_to', sa.String(length=64), server_default='', nullable=False),
    sa.Column('recording_path', sa.Text(), server_default='', nullable=False),
    sa.Column('recording_s', sa.Float(), server_default='0', nullable=False),
    sa.Column('disposition', sa.String(length=32), server_default='', nullable=False),
    sa.Column('survey_grade', sa.SmallInteger(), nullable=True),
    sa.Column('callback_of', sa.String(length=80), server_default='', nullable=False),
    sa.Column('node', sa.String(length=128), server_default='', nullable=False),
    sa.Column('written_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('call_id', name=op.f('pk_calls'))
    )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calls_agent_id_started_at'), ['agent_id', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_calls_center_started_at'), ['center', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_calls_queue_started_at'), ['queue', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_calls_started_at'), ['started_at'], unique=False)

    op.create_table('surveys',
    sa.Column('call_id', sa.String(length=80), nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.Column('center', sa.String(length=32), server_default='', nullable=False),
    sa.Column('queue', sa.String(length=32), server_default='', nullable=False),
    sa.Column('agent_id', sa.String(length=64), server_default='', nullable=False),
    sa.Column('grade', sa.SmallInteger(), nullable=True),
    sa.Column('label', sa.String(length=16), server_default='', nullable=False),
    sa.PrimaryKeyConstraint('call_id', name=op.f('pk_surveys'))
    )
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_surveys_at'), ['at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_surveys_at'))

    op.drop_table('surveys')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calls_started_at'))
        batch_op.drop_index(batch_op.f('ix_calls_queue_started_at'))
        batch_op.drop_index(batch_op.f('ix_calls_center_started_at'))
        batch_op.drop_index(batch_op.f('ix_calls_agent_id_started_at'))

    op.drop_table('calls')
    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_callbacks_created_at'))

    op.drop_table('callbacks')
    op.drop_table('call_legs')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))

    op.drop_table('audit_log')
    with op.batch_alter_table('agent_states', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_states_at'))
        batch_op.drop_index(batch_op.f('ix_agent_states_agent_id_at_event_id_state'))

    op.drop_table('agent_states')
