"""email understanding

Email understanding: bounces, undeliverable addresses, participants, pending thread links.

Revision ID: c302e0a1b002
Revises: c301e0a1b001
Create Date: 2026-11-22 20:30:00

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "c302e0a1b002"
down_revision = "c301e0a1b001"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
