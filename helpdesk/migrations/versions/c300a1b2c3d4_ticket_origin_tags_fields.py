"""ticket origin, tags and custom fields

Routing rules and SLA conditions read where a ticket came from, its tags and admin-defined
fields.

Revision ID: c300a1b2c3d4
Revises: b7c1d2e3f4a5
Create Date: 2026-11-22 20:35:00

"""
import sqlalchemy as sa
from alembic import op

revision = "c300a1b2c3d4"
down_revision = "b7c1d2e3f4a5"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("tags", sa.JSON(), nullable=False,
                                      server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column("custom_fields", sa.JSON(), nullable=False,
                                      server_default=sa.text("'{}'")))
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.alter_column("tags", server_default=None)
        batch_op.alter_column("custom_fields", server_default=None)


def downgrade():
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_column("custom_fields")
        batch_op.drop_column("tags")
        batch_op.drop_column("origin")
