"""raw mail spool

Mail bigger than MAIL_SPOOL_BYTES is kept in a file in the attachment storage: its row
names the file, and ``raw`` may be empty.

Revision ID: c601a0b1c001
Revises: c502a0b1c002
Create Date: 2026-11-22 22:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = "c601a0b1c001"
down_revision = "c502a0b1c002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("email_raw", schema=None) as batch_op:
        batch_op.add_column(sa.Column("raw_storage_name", sa.String(length=32), nullable=True))
        batch_op.alter_column("raw", existing_type=sa.LargeBinary(), nullable=True)


def downgrade():
    # Mail kept in files cannot go back into a NOT NULL column without its bytes: refuse
    # rather than lose it.
    connection = op.get_bind()
    spooled = connection.execute(sa.text(
        "SELECT count(*) FROM email_raw WHERE raw_storage_name IS NOT NULL")).scalar()
    if spooled:
        raise RuntimeError(f"{spooled} raw mails are kept in files; downgrading would lose them")
    with op.batch_alter_table("email_raw", schema=None) as batch_op:
        batch_op.alter_column("raw", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column("raw_storage_name")
