"""crm review replay

Review items remember the CRM's id of the record (so a replay can read it again) and how
they left the list.

Revision ID: c603a0b1c003
Revises: c602a0b1c002
Create Date: 2026-11-22 22:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = "c603a0b1c003"
down_revision = "c602a0b1c002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("crm_review_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("resolution", sa.String(length=20), nullable=True))
    op.execute("UPDATE crm_review_item SET resolution = 'resolved' "
               "WHERE resolved_at IS NOT NULL")


def downgrade():
    with op.batch_alter_table("crm_review_item", schema=None) as batch_op:
        batch_op.drop_column("resolution")
        batch_op.drop_column("external_id")
