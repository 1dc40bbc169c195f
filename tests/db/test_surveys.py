"""Satisfaction surveys: invitation after solving, signed links, answers, the CSAT report."""

import re
import time

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select

from helpdesk.actors import SYSTEM
from helpdesk.customers.operations import find_or_create_customer
from helpdesk.db import db
from helpdesk.surveys.models import SurveyInvitation
from helpdesk.surveys.operations import (
    InvalidSurveyLink,
    answer_survey,
    invitation_from_token,
    survey_token,
)
from helpdesk.surveys.queries import csat_summary
from helpdesk.surveys.tasks import send_survey_invitation
from helpdesk.tickets.operations import open_ticket, update_ticket


def _solved_ticket():
    customer = find_or_create_customer("carol@example.com", "Carol")
    ticket = open_ticket(
        SYSTEM,
        customer=customer,
        subject="Refund",
        body_text="Please",
        channel="web",
        acknowledge=False,
    )
    update_ticket(SYSTEM, ticket, status="solved")
    db.session.commit()
    return ticket


def _invitations(ticket):
    return list(
        db.session.scalars(select(SurveyInvitation).where(SurveyInvitation.ticket_id == ticket.id))
    )


def test_solving_a_ticket_emails_a_signed_survey_link(any_db_app, smtp_sink):
    ticket = _solved_ticket()
    [invitation] = _invitations(ticket)
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == ("carol@example.com",)
    body = mail.message.get_body(("plain",)).get_content()
    token = re.search(r"/survey/([\w.-]+)\?rating=5", body).group(1)
    assert invitation_from_token(token).id == invitation.id
    assert mail.message["Auto-Submitted"] == "auto-replied"


def test_survey_job_is_idempotent(any_db_app):
    ticket = _solved_ticket()
    send_survey_invitation(ticket.id, ticket.solved_at.isoformat())
    db.session.commit()
    assert len(_invitations(ticket)) == 1


def test_ticket_reopened_before_the_job_runs_gets_no_survey(any_db_app):
    customer = find_or_create_customer("dan@example.com")
    ticket = open_ticket(
        SYSTEM, customer=customer, subject="s", body_text="b", channel="web", acknowledge=False
    )
    ticket.status, ticket.solved_at = "open", None
    db.session.commit()
    send_survey_invitation(ticket.id, "2026-01-01T00:00:00+00:00")
    db.session.commit()
    assert _invitations(ticket) == []


def test_tampered_survey_token_is_rejected(any_db_app):
    [invitation] = _invitations(_solved_ticket())
    token = survey_token(invitation)
    with pytest.raises(InvalidSurveyLink):
        invitation_from_token(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))


def test_survey_token_for_another_id_cannot_be_forged_without_the_key(any_db_app):
    _solved_ticket()
    forged = URLSafeTimedSerializer("not-our-key", salt="helpdesk.survey").dumps(1)
    with pytest.raises(InvalidSurveyLink):
        invitation_from_token(forged)


def test_expired_survey_link_is_rejected(any_db_app):
    [invitation] = _invitations(_solved_ticket())
    token = survey_token(invitation)
    any_db_app.config["SURVEY_LINK_MAX_AGE_SECONDS"] = 0
    time.sleep(1.1)
    with pytest.raises(InvalidSurveyLink):
        invitation_from_token(token)


def test_answers_feed_the_csat_report(any_db_app):
    for rating in (5, 4, 2):
        [invitation] = _invitations(_solved_ticket())
        answer_survey(invitation, rating, "")
    db.session.commit()
    summary = csat_summary()
    assert (summary.sent, summary.answered, summary.satisfied) == (3, 3, 2)
    assert summary.csat_percent == pytest.approx(66.7)
    assert summary.average == pytest.approx(3.67)
    assert summary.by_rating == {1: 0, 2: 1, 3: 0, 4: 1, 5: 1}
    assert db.session.scalar(select(func.count(SurveyInvitation.id))) == 3


def test_rating_outside_one_to_five_is_refused(any_db_app):
    [invitation] = _invitations(_solved_ticket())
    with pytest.raises(ValueError):
        answer_survey(invitation, 6, "")
