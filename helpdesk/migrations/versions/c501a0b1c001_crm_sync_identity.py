"""crm sync identity

CRM bridge: sources, watermarks, identities, field ownership, conflicts, merges.

Revision ID: c501a0b1c001
Revises: c402a0b1c002
Create Date: 2026-11-22 20:30:00

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "c501a0b1c001"
down_revision = "c402a0b1c002"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
