from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.db import Model, UTCDateTime, utcnow


class SurveyInvitation(Model):
    """A satisfaction survey sent for one solution of a ticket, and its answer."""

    __tablename__ = "survey_invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"),
                                           index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    #: The ticket's solved_at this survey is about: solving again later sends a new survey.
    solved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rating: Mapped[int | None]
    comment: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    locale: Mapped[str | None] = mapped_column(String(10))
