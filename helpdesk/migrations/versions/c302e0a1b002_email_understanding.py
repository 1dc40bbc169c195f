"""email understanding

Email understanding: bounces, undeliverable addresses, participants, pending thread links.

Revision ID: c302e0a1b002
Revises: c301e0a1b001
Create Date: 2026-11-22 20:30:00

"""
import sqlalchemy as sa
from alembic import op

import helpdesk.db

revision = "c302e0a1b002"
down_revision = "c301e0a1b001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_ticket_merged_into_id_ticket"), "ticket",
                                    ["merged_into_id"], ["id"], ondelete="SET NULL")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_full", sa.Text(), nullable=True))
    with op.batch_alter_table("email_raw", schema=None) as batch_op:
        batch_op.add_column(sa.Column("duplicate_of_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_email_raw_duplicate_of_id_email_raw"),
                                    "email_raw", ["duplicate_of_id"], ["id"],
                                    ondelete="SET NULL")

    op.create_table(
        "ticket_participant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("added_at", helpdesk.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"],
                                name=op.f("fk_ticket_participant_customer_id_customer"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"],
                                name=op.f("fk_ticket_participant_ticket_id_ticket"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_participant")),
        sa.UniqueConstraint("ticket_id", "customer_id",
                            name=op.f("uq_ticket_participant_ticket_id")),
    )
    with op.batch_alter_table("ticket_participant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_participant_ticket_id"), ["ticket_id"],
                              unique=False)

    op.create_table(
        "email_thread_reference",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("seen", sa.Boolean(), nullable=False),
        sa.Column("created_at", helpdesk.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"],
                                name=op.f("fk_email_thread_reference_ticket_id_ticket"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_thread_reference")),
        sa.UniqueConstraint("message_id", name=op.f("uq_email_thread_reference_message_id")),
    )
    with op.batch_alter_table("email_thread_reference", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_thread_reference_ticket_id"), ["ticket_id"],
                              unique=False)

    op.create_table(
        "email_undeliverable_address",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("raw_email_id", sa.Integer(), nullable=True),
        sa.Column("marked_at", helpdesk.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["raw_email_id"], ["email_raw.id"],
            name=op.f("fk_email_undeliverable_address_raw_email_id_email_raw"),
            ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"],
                                name=op.f("fk_email_undeliverable_address_ticket_id_ticket"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_undeliverable_address")),
        sa.UniqueConstraint("address", name=op.f("uq_email_undeliverable_address_address")),
    )

    op.create_table(
        "email_blocked_sender",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pattern", sa.String(length=254), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_at", helpdesk.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_blocked_sender")),
        sa.UniqueConstraint("pattern", name=op.f("uq_email_blocked_sender_pattern")),
    )


def downgrade():
    op.drop_table("email_blocked_sender")
    op.drop_table("email_undeliverable_address")
    with op.batch_alter_table("email_thread_reference", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_thread_reference_ticket_id"))
    op.drop_table("email_thread_reference")
    with op.batch_alter_table("ticket_participant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_participant_ticket_id"))
    op.drop_table("ticket_participant")
    with op.batch_alter_table("email_raw", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_email_raw_duplicate_of_id_email_raw"),
                                 type_="foreignkey")
        batch_op.drop_column("duplicate_of_id")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("body_full")
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_ticket_merged_into_id_ticket"),
                                 type_="foreignkey")
        batch_op.drop_column("merged_into_id")
