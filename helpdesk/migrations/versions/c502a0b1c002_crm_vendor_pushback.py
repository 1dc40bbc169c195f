"""crm vendor pushback

CRM vendor adapters and the push-back outbox.

Revision ID: c502a0b1c002
Revises: c501a0b1c001
Create Date: 2026-11-22 20:30:00

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "c502a0b1c002"
down_revision = "c501a0b1c001"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
