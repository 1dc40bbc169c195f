"""What the CRM bridge stores: the review list of records that could not be mapped."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.db import UTCDateTime, db, utcnow

#: Source names are stored here and on ``Customer.profile_source``; both hold 60 characters.
SOURCE_NAME_MAX = 60


# mypy sees Flask-SQLAlchemy's db.Model as a variable, not a class (the core's models too).
class CrmReviewItem(db.Model):  # type: ignore[name-defined]
    """A source record that did not map, kept whole so it can be fixed and replayed.

    ``record_hash`` identifies the raw record, so importing the same export twice does not
    list the same bad record twice; ``row_number`` is where it was seen most recently.
    """

    __tablename__ = "crm_review_item"
    __table_args__ = (Index("ix_crm_review_item_source_hash", "source", "record_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(SOURCE_NAME_MAX))
    row_number: Mapped[int]
    raw_record: Mapped[Any] = mapped_column(JSON)
    record_hash: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
