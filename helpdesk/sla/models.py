from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.db import Model


class SlaPolicy(Model):
    """Targets for tickets of one priority, in minutes. Admins edit these rows."""

    __tablename__ = "sla_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    priority: Mapped[str] = mapped_column(String(20), unique=True)
    first_reply_minutes: Mapped[int]
    resolution_minutes: Mapped[int]
