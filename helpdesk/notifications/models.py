from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.db import Model, UTCDateTime, utcnow


class Notification(Model):
    """Something an agent should know about a ticket (an SLA warning, a breach)."""

    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_agent_read", "agent_id", "read_at", "id"),
        # The mail job reads only the rows it has not mailed yet.
        Index("ix_notification_unmailed", "id", postgresql_where=text("mailed_at IS NULL"),
              sqlite_where=text("mailed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the mail copy went out (or was found to have nobody to go to).
    mailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
