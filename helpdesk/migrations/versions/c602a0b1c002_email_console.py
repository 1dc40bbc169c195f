"""email console

Who blocked a sender (the blocked-senders page shows it), and the copied recipients of an
outgoing mail (replies go to the ticket's participants on Cc).

Revision ID: c602a0b1c002
Revises: c601a0b1c001
Create Date: 2026-11-22 22:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = "c602a0b1c002"
down_revision = "c601a0b1c001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("email_blocked_sender", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_email_blocked_sender_created_by_id_agent"), "agent",
            ["created_by_id"], ["id"], ondelete="SET NULL")
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cc", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.drop_column("cc")
    with op.batch_alter_table("email_blocked_sender", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_email_blocked_sender_created_by_id_agent"),
                                 type_="foreignkey")
        batch_op.drop_column("created_by_id")
