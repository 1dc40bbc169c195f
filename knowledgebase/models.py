"""Knowledge-base articles."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.db import UTCDateTime, db, utcnow

if TYPE_CHECKING:
    from helpdesk.auth.models import Agent

STATUSES = ("draft", "published")
TITLE_MAX = 200
SLUG_MAX = 120


# mypy sees Flask-SQLAlchemy's db.Model as a variable, not a class (the core's models too).
class Article(db.Model):  # type: ignore[name-defined]
    """A help article, written in Markdown by an agent; the public sees it once published.

    ``body_html`` is derived from ``body_markdown`` (rendered, then sanitised) whenever the
    body changes, so pages never render Markdown or trust stored HTML they did not sanitise.
    """

    __tablename__ = "kb_article"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'published')", name="status"),
        Index("ix_kb_article_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    slug: Mapped[str] = mapped_column(String(SLUG_MAX), unique=True)
    body_markdown: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    author: Mapped[Agent | None] = relationship(lazy="joined")

    @property
    def is_published(self) -> bool:
        return self.status == "published"
