"""sla calendars clocks

SLA in depth: business calendars, ordered policies, clock ledger, escalations.

The per-priority ``sla_policy`` rows become one ordered "Standard" policy holding the same
targets per priority (in calendar hours, as before), so an upgraded installation keeps its
deadlines. Existing tickets get a ledger segment, their two clocks and that policy.

Revision ID: c401a0b1c001
Revises: c302e0a1b002
Create Date: 2026-11-22 20:30:00

"""
import json

import sqlalchemy as sa
from alembic import op

import helpdesk.db

revision = "c401a0b1c001"
down_revision = "c302e0a1b002"
branch_labels = None
depends_on = None

_CATEGORY = ("CASE t.status WHEN 'pending' THEN 'waiting' WHEN 'on-hold' THEN 'hold' "
             "WHEN 'solved' THEN 'solved' WHEN 'closed' THEN 'solved' ELSE 'open' END")


def upgrade():
    op.create_table(
        "sla_calendar",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("weekly_hours", sa.JSON(), nullable=False),
        sa.Column("holiday_country", sa.String(length=8), nullable=True),
        sa.Column("holiday_subdivision", sa.String(length=16), nullable=True),
        sa.Column("closed_dates", sa.JSON(), nullable=False),
        sa.Column("extra_working_days", sa.JSON(), nullable=False),
        sa.Column("updated_at", helpdesk.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_calendar")),
        sa.UniqueConstraint("name", name=op.f("uq_sla_calendar_name")),
    )

    connection = op.get_bind()
    old = connection.execute(sa.text(
        "SELECT priority, first_reply_minutes, resolution_minutes FROM sla_policy "
        "ORDER BY id")).all()
    connection.execute(sa.text("DELETE FROM sla_policy"))
    with op.batch_alter_table("sla_policy") as batch:
        batch.drop_constraint("uq_sla_policy_priority", type_="unique")
        batch.drop_column("priority")
        batch.drop_column("first_reply_minutes")
        batch.drop_column("resolution_minutes")
        batch.add_column(sa.Column("position", sa.Integer(), nullable=False))
        batch.add_column(sa.Column("active", sa.Boolean(), nullable=False))
        batch.add_column(sa.Column("calendar_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("conditions", sa.JSON(), nullable=False))
        batch.add_column(sa.Column("targets", sa.JSON(), nullable=False))
        batch.add_column(sa.Column("pauses", sa.JSON(), nullable=False))
        batch.add_column(sa.Column("warn_share", sa.Double(), nullable=True))
        batch.add_column(sa.Column("escalations", sa.JSON(), nullable=False))
        batch.add_column(sa.Column("updated_at", helpdesk.db.UTCDateTime(), nullable=False))
        batch.create_foreign_key(batch.f("fk_sla_policy_calendar_id_sla_calendar"),
                                 "sla_calendar", ["calendar_id"], ["id"], ondelete="SET NULL")
    if old:
        targets = {priority: {"first_reply": {"minutes": first, "business_hours": False},
                              "resolution": {"minutes": resolution, "business_hours": False}}
                   for priority, first, resolution in old}
        connection.execute(sa.text(
            "INSERT INTO sla_policy (name, position, active, conditions, targets, pauses, "
            "warn_share, escalations, updated_at) VALUES ('Standard', 0, :active, '{}', "
            ":targets, '{}', 0.75, '[]', CURRENT_TIMESTAMP)"),
            {"targets": json.dumps(targets), "active": True})

    op.create_table(
        "sla_ticket",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=True),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("chosen_at", helpdesk.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["policy_id"], ["sla_policy.id"],
                                name=op.f("fk_sla_ticket_policy_id_sla_policy"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"],
                                name=op.f("fk_sla_ticket_ticket_id_ticket"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_sla_ticket")),
    )
    op.create_index(op.f("ix_sla_ticket_policy_id"), "sla_ticket", ["policy_id"])
    op.create_table(
        "sla_segment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("started_at", helpdesk.db.UTCDateTime(), nullable=False),
        sa.Column("ended_at", helpdesk.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"],
                                name=op.f("fk_sla_segment_ticket_id_ticket"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_segment")),
    )
    op.create_index("ix_sla_segment_ticket_started", "sla_segment", ["ticket_id", "started_at"])
    op.create_table(
        "sla_clock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("started_at", helpdesk.db.UTCDateTime(), nullable=False),
        sa.Column("stopped_at", helpdesk.db.UTCDateTime(), nullable=True),
        sa.Column("target_minutes", sa.Integer(), nullable=True),
        sa.Column("elapsed_seconds", sa.Integer(), nullable=False),
        sa.Column("due_at", helpdesk.db.UTCDateTime(), nullable=True),
        sa.Column("warn_at", helpdesk.db.UTCDateTime(), nullable=True),
        sa.Column("escalation_step", sa.Integer(), nullable=False),
        sa.Column("next_action_at", helpdesk.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"],
                                name=op.f("fk_sla_clock_ticket_id_ticket"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_clock")),
    )
    op.create_index("ix_sla_clock_ticket_kind", "sla_clock", ["ticket_id", "kind"])
    op.create_index("ix_sla_clock_next_action_at", "sla_clock", ["next_action_at"])
    op.create_index("ix_sla_clock_due_at", "sla_clock", ["due_at"])
    op.create_table(
        "sla_team_lead",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agent.id"],
                                name=op.f("fk_sla_team_lead_agent_id_agent"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"],
                                name=op.f("fk_sla_team_lead_team_id_team"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_sla_team_lead")),
    )
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("created_at", helpdesk.db.UTCDateTime(), nullable=False),
        sa.Column("read_at", helpdesk.db.UTCDateTime(), nullable=True),
        sa.Column("mailed_at", helpdesk.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agent.id"],
                                name=op.f("fk_notification_agent_id_agent"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"],
                                name=op.f("fk_notification_ticket_id_ticket"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
    )
    op.create_index("ix_notification_agent_read", "notification",
                    ["agent_id", "read_at", "id"])
    op.create_index("ix_notification_unmailed", "notification", ["id"],
                    postgresql_where=sa.text("mailed_at IS NULL"),
                    sqlite_where=sa.text("mailed_at IS NULL"))

    # Existing tickets: one ledger segment since creation, their first-reply and resolution
    # clocks with the deadlines they already had, under the Standard policy.
    op.execute(f"INSERT INTO sla_segment (ticket_id, category, started_at) "
               f"SELECT t.id, {_CATEGORY}, t.created_at FROM ticket t")
    op.execute("INSERT INTO sla_ticket (ticket_id, policy_id, explanation, chosen_at) "
               "SELECT t.id, (SELECT min(id) FROM sla_policy), '[]', t.created_at FROM ticket t")
    for kind, due, done in (("first_reply", "first_reply_due", "first_replied_at"),
                            ("resolution", "resolution_due", "solved_at")):
        op.execute(
            f"INSERT INTO sla_clock (ticket_id, kind, status, started_at, stopped_at, "
            f"elapsed_seconds, due_at, escalation_step) SELECT t.id, '{kind}', "
            f"CASE WHEN t.{due} IS NULL THEN 'none' WHEN t.{done} IS NULL THEN 'running' "
            f"WHEN t.{done} <= t.{due} THEN 'met' ELSE 'breached' END, t.created_at, "
            f"t.{done}, 0, t.{due}, 0 FROM ticket t")


def downgrade():
    op.drop_index("ix_notification_agent_read", table_name="notification")
    op.drop_table("notification")
    op.drop_table("sla_team_lead")
    op.drop_index("ix_sla_clock_due_at", table_name="sla_clock")
    op.drop_index("ix_sla_clock_next_action_at", table_name="sla_clock")
    op.drop_index("ix_sla_clock_ticket_kind", table_name="sla_clock")
    op.drop_table("sla_clock")
    op.drop_index("ix_sla_segment_ticket_started", table_name="sla_segment")
    op.drop_table("sla_segment")
    op.drop_index(op.f("ix_sla_ticket_policy_id"), table_name="sla_ticket")
    op.drop_table("sla_ticket")
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT targets FROM sla_policy ORDER BY position, id")
                              ).all()
    connection.execute(sa.text("DELETE FROM sla_policy"))
    with op.batch_alter_table("sla_policy") as batch:
        batch.drop_constraint("fk_sla_policy_calendar_id_sla_calendar", type_="foreignkey")
        for column in ("position", "active", "calendar_id", "conditions", "targets", "pauses",
                       "warn_share", "escalations", "updated_at"):
            batch.drop_column(column)
        batch.add_column(sa.Column("priority", sa.String(length=20), nullable=False))
        batch.add_column(sa.Column("first_reply_minutes", sa.Integer(), nullable=False))
        batch.add_column(sa.Column("resolution_minutes", sa.Integer(), nullable=False))
        batch.create_unique_constraint("uq_sla_policy_priority", ["priority"])
    # Back to one row per priority: the first policy's targets (the old model had no more).
    if rows:
        targets = rows[0][0] if isinstance(rows[0][0], dict) else json.loads(rows[0][0])
        for priority, clocks in targets.items():
            first = clocks.get("first_reply", {}).get("minutes")
            resolution = clocks.get("resolution", {}).get("minutes")
            if first and resolution:
                connection.execute(sa.text(
                    "INSERT INTO sla_policy (name, priority, first_reply_minutes, "
                    "resolution_minutes) VALUES (:name, :priority, :first, :resolution)"),
                    {"name": priority.title(), "priority": priority, "first": first,
                     "resolution": resolution})
    op.drop_table("sla_calendar")
