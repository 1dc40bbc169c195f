"""email intake

Email intake in depth: mailbox auth and health, intake locks, outbox backoff.

Revision ID: c301e0a1b001
Revises: c300a1b2c3d4
Create Date: 2026-11-22 20:30:00

"""
import sqlalchemy as sa
from alembic import op

from helpdesk.db import UTCDateTime

revision = "c301e0a1b001"
down_revision = "c300a1b2c3d4"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("email_mailbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("imap_security", sa.String(length=10), nullable=False,
                                      server_default="tls"))
        batch_op.add_column(sa.Column("auth_method", sa.String(length=10), nullable=False,
                                      server_default="password"))
        batch_op.add_column(sa.Column("oauth_token_url", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("oauth_client_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("oauth_client_secret", sa.String(length=500),
                                      nullable=True))
        batch_op.add_column(sa.Column("oauth_refresh_token", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("oauth_access_token", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("oauth_expires_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("connection_state", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("connection_state_at", UTCDateTime(), nullable=True))
    op.execute("UPDATE email_mailbox SET imap_security = 'none' WHERE NOT imap_tls")
    with op.batch_alter_table("email_mailbox", schema=None) as batch_op:
        batch_op.alter_column("imap_security", server_default=None)
        batch_op.alter_column("auth_method", server_default=None)
        batch_op.drop_column("imap_tls")

    op.create_table(
        "email_mailbox_lease",
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["mailbox_id"], ["email_mailbox.id"],
                                name=op.f("fk_email_mailbox_lease_mailbox_id_email_mailbox"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("mailbox_id", name=op.f("pk_email_mailbox_lease")),
    )

    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_attempt_at", UTCDateTime(), nullable=True))
        batch_op.create_index("ix_email_outbox_to_created", ["to", "created_at"], unique=False)


def downgrade():
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_email_outbox_to_created")
        batch_op.drop_column("next_attempt_at")

    op.drop_table("email_mailbox_lease")

    with op.batch_alter_table("email_mailbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("imap_tls", sa.Boolean(), nullable=False,
                                      server_default=sa.true()))
    op.execute("UPDATE email_mailbox SET imap_tls = false WHERE imap_security = 'none'")
    with op.batch_alter_table("email_mailbox", schema=None) as batch_op:
        batch_op.alter_column("imap_tls", server_default=None)
        for column in ("connection_state_at", "connection_state", "oauth_expires_at",
                       "oauth_access_token", "oauth_refresh_token", "oauth_client_secret",
                       "oauth_client_id", "oauth_token_url", "auth_method", "imap_security"):
            batch_op.drop_column(column)
