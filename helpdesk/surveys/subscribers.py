"""Surveys react to solved tickets through the core's signals."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from helpdesk import jobs
from helpdesk.signals import ticket_solved
from helpdesk.tickets.models import Ticket


def schedule_survey(ticket: Ticket, **_: Any) -> None:
    """Queue the survey invitation, after commit, after the configured delay."""
    assert ticket.solved_at is not None
    jobs.enqueue("helpdesk.surveys.tasks.send_survey_invitation", ticket.id,
                 ticket.solved_at.isoformat(), queue="default",
                 delay=current_app.config["SURVEY_DELAY_SECONDS"])


def connect_subscribers(app: Flask) -> None:
    ticket_solved.connect(schedule_survey)
