"""crm sync identity

CRM bridge: sources, watermarks, identities, field ownership, conflicts, merges.

Revision ID: c501a0b1c001
Revises: c402a0b1c002
Create Date: 2026-11-22 20:30:00

"""
import sqlalchemy as sa
from alembic import op

import helpdesk.db

revision = "c501a0b1c001"
down_revision = "c402a0b1c002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('crm_source',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('secrets', sa.JSON(), nullable=False),
    sa.Column('mapping', sa.JSON(), nullable=False),
    sa.Column('record_url_template', sa.String(length=500), nullable=True),
    sa.Column('schedule_minutes', sa.Integer(), nullable=False),
    sa.Column('sweep_hours', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_success_at', helpdesk.db.UTCDateTime(), nullable=True),
    sa.Column('last_sweep_at', helpdesk.db.UTCDateTime(), nullable=True),
    sa.Column('lease_holder', sa.String(length=80), nullable=True),
    sa.Column('lease_until', helpdesk.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', helpdesk.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_source')),
    sa.UniqueConstraint('name', name=op.f('uq_crm_source_name'))
    )
    op.create_table('organization',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_key', sa.String(length=200), nullable=False),
    sa.Column('created_at', helpdesk.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organization')),
    sa.UniqueConstraint('name_key', name=op.f('uq_organization_name_key'))
    )
    op.create_table('crm_sync_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('started_at', helpdesk.db.UTCDateTime(), nullable=False),
    sa.Column('finished_at', helpdesk.db.UTCDateTime(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('deleted', sa.Integer(), nullable=False),
    sa.Column('conflicts', sa.Integer(), nullable=False),
    sa.Column('review', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['source_id'], ['crm_source.id'], name=op.f('fk_crm_sync_run_source_id_crm_source'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_sync_run'))
    )
    with op.batch_alter_table('crm_sync_run', schema=None) as batch_op:
        batch_op.create_index('ix_crm_sync_run_source_started', ['source_id', 'started_at'], unique=False)

    op.create_table('crm_watermark',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('object_type', sa.String(length=40), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('updated_at', helpdesk.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['crm_source.id'], name=op.f('fk_crm_watermark_source_id_crm_source'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_watermark')),
    sa.UniqueConstraint('source_id', 'object_type', name='uq_crm_watermark_source_object')
    )
    op.create_table('customer_identity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('namespace', sa.String(length=60), nullable=False),
    sa.Column('value', sa.String(length=254), nullable=False),
    sa.Column('source_updated_at', helpdesk.db.UTCDateTime(), nullable=True),
    sa.Column('deleted_at', helpdesk.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', helpdesk.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_customer_identity_customer_id_customer'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_identity')),
    sa.UniqueConstraint('value', 'kind', 'namespace', name='uq_customer_identity_value_kind_namespace')
    )
    with op.batch_alter_table('customer_identity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_identity_customer_id'), ['customer_id'], unique=False)

    op.create_table('customer_merge',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('winner_id', sa.Integer(), nullable=False),
    sa.Column('loser_id', sa.Integer(), nullable=False),
    sa.Column('actor_name', sa.String(length=200), nullable=False),
    sa.Column('moved', sa.JSON(), nullable=False),
    sa.Column('winner_before', sa.JSON(), nullable=False),
    sa.Column('created_at', helpdesk.db.UTCDateTime(), nullable=False),
    sa.Column('undone_at', helpdesk.db.UTCDateTime(), nullable=True),
    sa.Column('undone_by', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['loser_id'], ['customer.id'], name=op.f('fk_customer_merge_loser_id_customer')),
    sa.ForeignKeyConstraint(['winner_id'], ['customer.id'], name=op.f('fk_customer_merge_winner_id_customer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_merge'))
    )
    with op.batch_alter_table('customer_merge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_merge_loser_id'), ['loser_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_merge_winner_id'), ['winner_id'], unique=False)

    op.create_table('profile_conflict',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('field', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=60), nullable=False),
    sa.Column('external_id', sa.String(length=120), nullable=True),
    sa.Column('crm_value', sa.JSON(), nullable=False),
    sa.Column('local_value', sa.JSON(), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('created_at', helpdesk.db.UTCDateTime(), nullable=False),
    sa.Column('resolved_at', helpdesk.db.UTCDateTime(), nullable=True),
    sa.Column('resolution', sa.String(length=20), nullable=True),
    sa.Column('resolved_by', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_profile_conflict_customer_id_customer'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_profile_conflict'))
    )
    with op.batch_alter_table('profile_conflict', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_profile_conflict_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_profile_conflict_open', ['resolved_at', 'customer_id'], unique=False)

    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lifetime_value', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('crm_url', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('provenance', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('organization_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('deleted_at', helpdesk.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_customer_organization_id'), ['organization_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_customer_organization_id_organization'), 'organization', ['organization_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_customer_merged_into_id_customer'), 'customer', ['merged_into_id'], ['id'])

    # Existing customers: no provenance yet, and their primary email as their first identity.
    op.execute("UPDATE customer SET provenance = '{}'")
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.alter_column('provenance', existing_type=sa.JSON(), nullable=False)
    op.execute("INSERT INTO customer_identity (customer_id, kind, namespace, value, created_at) "
               "SELECT id, 'email', '', email, created_at FROM customer")


def downgrade():
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_customer_merged_into_id_customer'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_customer_organization_id_organization'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_customer_organization_id'))
        batch_op.drop_column('merged_into_id')
        batch_op.drop_column('deleted_at')
        batch_op.drop_column('organization_id')
        batch_op.drop_column('provenance')
        batch_op.drop_column('crm_url')
        batch_op.drop_column('lifetime_value')

    with op.batch_alter_table('profile_conflict', schema=None) as batch_op:
        batch_op.drop_index('ix_profile_conflict_open')
        batch_op.drop_index(batch_op.f('ix_profile_conflict_customer_id'))

    op.drop_table('profile_conflict')
    with op.batch_alter_table('customer_merge', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_merge_winner_id'))
        batch_op.drop_index(batch_op.f('ix_customer_merge_loser_id'))

    op.drop_table('customer_merge')
    with op.batch_alter_table('customer_identity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_identity_customer_id'))

    op.drop_table('customer_identity')
    op.drop_table('crm_watermark')
    with op.batch_alter_table('crm_sync_run', schema=None) as batch_op:
        batch_op.drop_index('ix_crm_sync_run_source_started')

    op.drop_table('crm_sync_run')
    op.drop_table('organization')
    op.drop_table('crm_source')
