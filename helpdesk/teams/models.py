from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.db import Model, UTCDateTime, db, utcnow

team_membership = Table(
    "team_membership",
    db.metadata,
    Column("team_id", ForeignKey("team.id", ondelete="CASCADE"), primary_key=True),
    Column("agent_id", ForeignKey("agent.id", ondelete="CASCADE"), primary_key=True),
)


class Team(Model):
    """A group of agents that owns a queue of tickets."""

    __tablename__ = "team"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
