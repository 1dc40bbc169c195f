from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from flask_login import UserMixin
from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from helpdesk.actors import Actor
from helpdesk.db import Model, UTCDateTime, utcnow
from helpdesk.teams.models import team_membership

if TYPE_CHECKING:
    from helpdesk.teams.models import Team

Role = Literal["admin", "agent"]
#: Whether an agent takes new tickets now; only "online" agents are assigned any.
AVAILABILITY = ("online", "away", "offline")


class Agent(UserMixin, Model):
    """A person who works tickets in the console. Admins also manage agents and teams."""

    __tablename__ = "agent"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(20), default="agent")
    active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Availability, read by automatic assignment. The agent sets the status; admins the rest.
    status: Mapped[str] = mapped_column(String(10), default="offline")
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Most open tickets assigned at once; None means no limit.
    capacity: Mapped[int | None] = mapped_column(default=20)
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Weekly hours in :mod:`helpdesk.auth.schedule` syntax; empty means no shift limits.
    shift: Mapped[str] = mapped_column(String(500), default="")

    teams: Mapped[list[Team]] = relationship(secondary=team_membership, lazy="selectin",
                                             order_by="Team.name")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive agents
        return self.active

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def as_actor(self) -> Actor:
        return Actor(kind="agent", id=self.id, name=self.name)
