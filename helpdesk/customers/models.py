from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.actors import Actor
from helpdesk.db import Model, UTCDateTime, utcnow

#: Profile fields a CRM may supply; the console shows them in the ticket sidebar.
PROFILE_FIELDS = ("name", "phone", "company", "tier", "owner", "tags")


class Customer(Model):
    """A person who writes to support. Emails are stored lower-cased and unique."""

    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str | None] = mapped_column(String(40))
    company: Mapped[str | None] = mapped_column(String(200))
    tier: Mapped[str | None] = mapped_column(String(40), index=True)
    owner: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    external_id: Mapped[str | None] = mapped_column(String(120), index=True)
    profile_source: Mapped[str | None] = mapped_column(String(60))
    profile_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def display_name(self) -> str:
        return self.name or self.email

    def as_actor(self) -> Actor:
        return Actor(kind="customer", id=self.id, name=self.display_name)
