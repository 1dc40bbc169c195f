"""Survey writes: invite after a solution, record the customer's answer."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, render_template
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from helpdesk.db import db, utcnow
from helpdesk.ports import OutgoingMail, outbound_mail
from helpdesk.signals import survey_answered
from helpdesk.surveys.models import SurveyInvitation
from helpdesk.tickets.models import Ticket, TicketEvent
from helpdesk.urls import public_url

_SALT = "helpdesk.survey"
RATINGS = (1, 2, 3, 4, 5)


class InvalidSurveyLink(ValueError):
    """The link was tampered with, has expired, or names no survey."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def survey_token(invitation: SurveyInvitation) -> str:
    return _serializer().dumps(invitation.id)


def invitation_from_token(token: str) -> SurveyInvitation:
    """The invitation a signed, unexpired link names, or :class:`InvalidSurveyLink`."""
    try:
        invitation_id = _serializer().loads(
            token, max_age=current_app.config["SURVEY_LINK_MAX_AGE_SECONDS"])
    except BadSignature as error:  # SignatureExpired is a BadSignature
        raise InvalidSurveyLink(str(error)) from error
    invitation = db.session.get(SurveyInvitation, invitation_id)
    if invitation is None:
        raise InvalidSurveyLink("no such survey")
    return invitation


def invite_to_survey(ticket: Ticket, solved_at: datetime) -> SurveyInvitation | None:
    """Email the customer a survey link for this solution of the ticket.

    Idempotent: nothing happens if the ticket was reopened since, or this solution was
    already surveyed. Returns the new invitation, or None.
    """
    if ticket.status not in ("solved", "closed") or ticket.solved_at != solved_at:
        return None
    already = db.session.scalar(select(SurveyInvitation.id).where(
        SurveyInvitation.ticket_id == ticket.id, SurveyInvitation.solved_at == solved_at))
    if already is not None:
        return None
    invitation = SurveyInvitation(ticket_id=ticket.id, customer_id=ticket.customer_id,
                                  solved_at=solved_at)
    db.session.add(invitation)
    db.session.flush()
    token = survey_token(invitation)
    links = {rating: public_url("surveys.answer", token=token, rating=rating)
             for rating in RATINGS}
    context = {"ticket": ticket, "links": links,
               "helpdesk_name": current_app.config["HELPDESK_NAME"]}
    outbound_mail().send(OutgoingMail(
        ticket_id=ticket.id, to=ticket.customer.email,
        subject=f"[{ticket.reference}] {ticket.subject}",
        text=render_template("surveys/mail/invitation.txt", **context), automatic=True))
    db.session.add(TicketEvent(ticket_id=ticket.id, actor_kind="system", actor_id=None,
                               actor_name="System", kind="survey-sent"))
    return invitation


def answer_survey(invitation: SurveyInvitation, rating: int, comment: str) -> None:
    """Record (or revise) the customer's rating and comment."""
    if rating not in RATINGS:
        raise ValueError(f"rating must be one of {RATINGS}")
    invitation.rating = rating
    invitation.comment = comment.strip()[:5000] or None
    invitation.answered_at = utcnow()
    ticket = db.session.get(Ticket, invitation.ticket_id)
    db.session.add(TicketEvent(ticket_id=invitation.ticket_id, actor_kind="customer",
                               actor_id=invitation.customer_id,
                               actor_name=ticket.customer.display_name if ticket else "",
                               kind="survey-answered", new_value=str(rating)))
    db.session.flush()
    survey_answered.send(ticket, rating=rating, comment=invitation.comment)
