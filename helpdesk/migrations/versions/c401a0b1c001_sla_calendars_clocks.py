"""sla calendars clocks

SLA in depth: business calendars, ordered policies, clock ledger, escalations.

Revision ID: c401a0b1c001
Revises: c302e0a1b002
Create Date: 2026-11-22 20:30:00

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "c401a0b1c001"
down_revision = "c302e0a1b002"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
