"""email intake

Email intake in depth: mailbox auth and health, intake locks, outbox backoff.

Revision ID: c301e0a1b001
Revises: c300a1b2c3d4
Create Date: 2026-11-22 20:30:00

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "c301e0a1b001"
down_revision = "c300a1b2c3d4"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
