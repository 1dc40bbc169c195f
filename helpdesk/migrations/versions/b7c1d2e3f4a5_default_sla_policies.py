"""default SLA policies

A new installation starts with a target for every priority, so tickets get deadlines from the
first day; admins change the rows later.

Revision ID: b7c1d2e3f4a5
Revises: a5e32d2addb4
Create Date: 2026-11-22 21:55:00

"""
import sqlalchemy as sa
from alembic import op

revision = "b7c1d2e3f4a5"
down_revision = "a5e32d2addb4"
branch_labels = None
depends_on = None

# priority, name, first reply (minutes), resolution (minutes)
POLICIES = [
    ("urgent", "Urgent", 60, 8 * 60),
    ("high", "High", 4 * 60, 24 * 60),
    ("normal", "Normal", 8 * 60, 3 * 24 * 60),
    ("low", "Low", 24 * 60, 7 * 24 * 60),
]

sla_policy = sa.table(
    "sla_policy",
    sa.column("name", sa.String),
    sa.column("priority", sa.String),
    sa.column("first_reply_minutes", sa.Integer),
    sa.column("resolution_minutes", sa.Integer),
)


def upgrade():
    op.bulk_insert(sla_policy, [
        {"priority": priority, "name": name, "first_reply_minutes": first,
         "resolution_minutes": resolution}
        for priority, name, first, resolution in POLICIES
    ])


def downgrade():
    op.execute(sla_policy.delete().where(
        sla_policy.c.priority.in_([priority for priority, *_ in POLICIES])))
