from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select

from helpdesk.db import db
from helpdesk.surveys.models import SurveyInvitation
from helpdesk.tickets.models import Ticket


def surveys_for_ticket(ticket: Ticket) -> list[SurveyInvitation]:
    return list(db.session.scalars(
        select(SurveyInvitation).where(SurveyInvitation.ticket_id == ticket.id)
        .order_by(SurveyInvitation.id)))


@dataclass(frozen=True, slots=True)
class CsatSummary:
    sent: int
    answered: int
    satisfied: int
    average: float | None
    by_rating: dict[int, int]

    @property
    def csat_percent(self) -> float | None:
        """Share of answers rated 4 or 5: the usual CSAT definition."""
        return round(100 * self.satisfied / self.answered, 1) if self.answered else None

    @property
    def response_rate_percent(self) -> float | None:
        return round(100 * self.answered / self.sent, 1) if self.sent else None


def csat_summary() -> CsatSummary:
    """Survey totals, aggregated in SQL."""
    sent, answered, satisfied, average = db.session.execute(select(
        func.count(SurveyInvitation.id),
        func.count(SurveyInvitation.answered_at),
        func.coalesce(func.sum(case((SurveyInvitation.rating >= 4, 1), else_=0)), 0),
        func.avg(SurveyInvitation.rating),
    )).one()
    rows = db.session.execute(
        select(SurveyInvitation.rating, func.count()).where(SurveyInvitation.rating.is_not(None))
        .group_by(SurveyInvitation.rating)).all()
    by_rating = {rating: 0 for rating in range(1, 6)} | {int(r or 0): int(n) for r, n in rows}
    return CsatSummary(sent=sent, answered=answered, satisfied=int(satisfied),
                       average=round(float(average), 2) if average is not None else None,
                       by_rating=by_rating)


def recent_answers(limit: int = 20) -> list[SurveyInvitation]:
    return list(db.session.scalars(
        select(SurveyInvitation).where(SurveyInvitation.answered_at.is_not(None))
        .order_by(SurveyInvitation.answered_at.desc()).limit(limit)))
