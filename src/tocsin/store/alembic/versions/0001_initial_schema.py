"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('automations',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('tags', sa.Text(), nullable=False),
    sa.Column('trigger', sa.Text(), nullable=False),
    sa.Column('actions', sa.Text(), nullable=False),
    sa.Column('actions_on_trigger', sa.Text(), nullable=False),
    sa.Column('actions_on_resolve', sa.Text(), nullable=False),
    sa.Column('owner_resource', sa.Text(), nullable=True),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.Column('updated_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('automations', schema=None) as batch_op:
        batch_op.create_index('ix_automations_name', ['name'], unique=False)

    op.create_table('child_firings',
    sa.Column('automation_id', sa.String(length=36), nullable=False),
    sa.Column('parent_path', sa.String(length=200), nullable=False),
    sa.Column('child_path', sa.String(length=200), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('automation_id', 'parent_path', 'child_path')
    )
    op.create_table('evaluation',
    sa.Column('partition', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('cursor', sa.BigInteger(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('events_clock', sa.Text(), nullable=True),
    sa.Column('events_clock_updated', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('partition')
    )
    op.create_table('events',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('occurred_us', sa.BigInteger(), nullable=False),
    sa.Column('received_us', sa.BigInteger(), nullable=False),
    sa.Column('event', sa.String(length=1024), nullable=False),
    sa.Column('resource_id', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('id')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_event', ['event'], unique=False)
        batch_op.create_index('ix_events_occurred', ['occurred_us'], unique=False)
        batch_op.create_index('ix_events_resource_id', ['resource_id'], unique=False)

    op.create_table('firings',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('automation_id', sa.String(length=36), nullable=False),
    sa.Column('triggered_us', sa.BigInteger(), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=True),
    sa.Column('data', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('firings', schema=None) as batch_op:
        batch_op.create_index('ix_firings_automation', ['automation_id', 'triggered_us'], unique=False)

    op.create_table('leases',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('holder', sa.String(length=100), nullable=False),
    sa.Column('epoch', sa.BigInteger(), nullable=False),
    sa.Column('expires_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('loaded_triggers',
    sa.Column('automation_id', sa.String(length=36), nullable=False),
    sa.Column('trigger', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('automation_id')
    )
    op.create_table('next_runs',
    sa.Column('automation_id', sa.String(length=36), nullable=False),
    sa.Column('trigger_path', sa.String(length=200), nullable=False),
    sa.Column('due', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('automation_id', 'trigger_path')
    )
    op.create_table('outbox',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('firing_id', sa.String(length=36), nullable=False),
    sa.Column('automation_id', sa.String(length=36), nullable=False),
    sa.Column('action_index', sa.Integer(), nullable=False),
    sa.Column('action', sa.Text(), nullable=False),
    sa.Column('destination', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_us', sa.BigInteger(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.Column('updated_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_due', ['status', 'next_attempt_us'], unique=False)

    op.create_table('parked_events',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('tokens',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('scope', sa.String(length=20), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_table('trigger_buckets',
    sa.Column('automation_id', sa.String(length=36), nullable=False),
    sa.Column('trigger_path', sa.String(length=200), nullable=False),
    sa.Column('bucket_key', sa.Text(), nullable=False),
    sa.Column('start_us', sa.BigInteger(), nullable=False),
    sa.Column('end_us', sa.BigInteger(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('automation_id', 'trigger_path', 'bucket_key')
    )


def downgrade() -> None:
    op.drop_table('trigger_buckets')
    op.drop_table('tokens')
    op.drop_table('parked_events')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_due')

    op.drop_table('outbox')
    op.drop_table('next_runs')
    op.drop_table('loaded_triggers')
    op.drop_table('leases')
    with op.batch_alter_table('firings', schema=None) as batch_op:
        batch_op.drop_index('ix_firings_automation')

    op.drop_table('firings')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_resource_id')
        batch_op.drop_index('ix_events_occurred')
        batch_op.drop_index('ix_events_event')

    op.drop_table('events')
    op.drop_table('evaluation')
    op.drop_table('child_firings')
    with op.batch_alter_table('automations', schema=None) as batch_op:
        batch_op.drop_index('ix_automations_name')

    op.drop_table('automations')
