"""Survey jobs."""

from __future__ import annotations

from datetime import datetime

from helpdesk.db import db
from helpdesk.surveys.operations import invite_to_survey
from helpdesk.tickets.models import Ticket


def send_survey_invitation(ticket_id: int, solved_at_iso: str) -> None:
    """Invite the customer to rate one solution of a ticket. Safe to run twice."""
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is not None:
        invite_to_survey(ticket, datetime.fromisoformat(solved_at_iso))
