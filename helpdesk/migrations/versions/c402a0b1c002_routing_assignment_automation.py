"""routing assignment automation

Routing rules, assignment and time-based automations: ordered routing rules, per-team
assignment settings with the round-robin pointer, agent availability (status, capacity, skills,
languages, shift), time-based automations with the stamps that make their sweep idempotent,
and the default automations (remind after 3 days pending, solve 7 days later, close solved
tickets after 4 days).

Revision ID: c402a0b1c002
Revises: c401a0b1c001
Create Date: 2026-11-22 20:30:00

"""
import sqlalchemy as sa
from alembic import op

import helpdesk.db

revision = "c402a0b1c002"
down_revision = "c401a0b1c001"
branch_labels = None
depends_on = None

REMINDER = (
    "Hello,\n\nwe are still waiting for your answer on {ticket}. Reply to this email and we "
    "will pick it up again.\n\n{helpdesk}\n\n"
    "您好，我们仍在等待您对 {ticket} 的回复。直接回复此邮件即可继续处理。"
)
SOLVED = (
    "Hello,\n\nwe have not heard back from you for ten days, so we consider {ticket} solved. "
    "Reply to this email if you still need help and the ticket opens again.\n\n{helpdesk}\n\n"
    "您好，我们十天未收到您的回复，{ticket} 已标记为已解决。如仍需帮助，直接回复此邮件即可重新打开。"
)
# name, status, after hours (of inactivity), action, message
DEFAULT_AUTOMATIONS = [
    ("Remind the customer after 3 days pending", "pending", 3 * 24, "remind", REMINDER),
    ("Solve 7 days after the reminder", "pending", 10 * 24, "solve", SOLVED),
    ("Close solved tickets after 4 days", "solved", 4 * 24, "close", ""),
]

time_automation = sa.table(
    "time_automation",
    sa.column("name", sa.String),
    sa.column("enabled", sa.Boolean),
    sa.column("status", sa.String),
    sa.column("after_hours", sa.Integer),
    sa.column("action", sa.String),
    sa.column("message", sa.Text),
)


def upgrade():
    op.create_table(
        "routing_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("on_created", sa.Boolean(), nullable=False),
        sa.Column("on_updated", sa.Boolean(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("updated_at", helpdesk.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_rule")),
    )
    with op.batch_alter_table("routing_rule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_routing_rule_position"), ["position"], unique=False)

    op.create_table(
        "team_assignment",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("strategy", sa.String(length=20), nullable=False),
        sa.Column("auto_assign", sa.Boolean(), nullable=False),
        sa.Column("last_agent_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"],
                                name=op.f("fk_team_assignment_team_id_team"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_team_assignment")),
    )
    op.create_table(
        "time_automation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("after_hours", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_time_automation")),
    )
    op.create_table(
        "automation_stamp",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("automation_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("since", helpdesk.db.UTCDateTime(), nullable=False),
        sa.Column("done_at", helpdesk.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["automation_id"], ["time_automation.id"],
                                name=op.f("fk_automation_stamp_automation_id_time_automation"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"],
                                name=op.f("fk_automation_stamp_ticket_id_ticket"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_stamp")),
        sa.UniqueConstraint("automation_id", "ticket_id", "since",
                            name="uq_automation_stamp_automation_ticket_since"),
    )
    with op.batch_alter_table("automation_stamp", schema=None) as batch_op:
        batch_op.create_index("ix_automation_stamp_ticket", ["ticket_id"], unique=False)

    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=10), nullable=False,
                                      server_default="offline"))
        batch_op.add_column(sa.Column("status_changed_at", helpdesk.db.UTCDateTime(),
                                      nullable=True))
        batch_op.add_column(sa.Column("capacity", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("skills", sa.JSON(), nullable=False,
                                      server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column("languages", sa.JSON(), nullable=False,
                                      server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column("shift", sa.String(length=500), nullable=False,
                                      server_default=""))
    op.execute("UPDATE agent SET capacity = 20")
    with op.batch_alter_table("agent", schema=None) as batch_op:
        for column in ("status", "skills", "languages", "shift"):
            batch_op.alter_column(column, server_default=None)

    op.create_table(
        "agent_load",
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("open_tickets", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agent.id"],
                                name=op.f("fk_agent_load_agent_id_agent"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_agent_load")),
    )
    # The counter starts from the real count of each agent's unresolved tickets.
    op.execute("INSERT INTO agent_load (agent_id, open_tickets) SELECT assignee_id, count(*) "
               "FROM ticket WHERE assignee_id IS NOT NULL "
               "AND status IN ('new', 'open', 'pending', 'on-hold') GROUP BY assignee_id")

    op.bulk_insert(time_automation, [
        {"name": name, "enabled": True, "status": status, "after_hours": hours,
         "action": action, "message": message}
        for name, status, hours, action, message in DEFAULT_AUTOMATIONS
    ])


def downgrade():
    op.drop_table("agent_load")
    with op.batch_alter_table("agent", schema=None) as batch_op:
        for column in ("shift", "languages", "skills", "capacity", "status_changed_at",
                       "status"):
            batch_op.drop_column(column)
    with op.batch_alter_table("automation_stamp", schema=None) as batch_op:
        batch_op.drop_index("ix_automation_stamp_ticket")
    op.drop_table("automation_stamp")
    op.drop_table("time_automation")
    op.drop_table("team_assignment")
    with op.batch_alter_table("routing_rule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_rule_position"))
    op.drop_table("routing_rule")
