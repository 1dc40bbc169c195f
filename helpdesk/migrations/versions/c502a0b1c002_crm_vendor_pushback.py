"""crm vendor pushback

CRM vendor adapters and the push-back outbox.

Revision ID: c502a0b1c002
Revises: c501a0b1c001
Create Date: 2026-11-22 20:30:00

"""
import sqlalchemy as sa
from alembic import op

import helpdesk.db

revision = "c502a0b1c002"
down_revision = "c501a0b1c001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('crm_push_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('event', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('external_record_id', sa.String(length=200), nullable=True),
    sa.Column('created_at', helpdesk.db.UTCDateTime(), nullable=False),
    sa.Column('sent_at', helpdesk.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['source_id'], ['crm_source.id'],
                            name=op.f('fk_crm_push_outbox_source_id_crm_source'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'],
                            name=op.f('fk_crm_push_outbox_ticket_id_ticket'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_push_outbox')),
    sa.UniqueConstraint('source_id', 'idempotency_key', name='uq_crm_push_outbox_source_key')
    )
    with op.batch_alter_table('crm_push_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crm_push_outbox_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_crm_push_outbox_ticket_id'), ['ticket_id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('crm_push_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_push_outbox_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_crm_push_outbox_status'))
    op.drop_table('crm_push_outbox')
