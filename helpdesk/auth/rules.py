"""Access rules: the only place that decides who may see or change what.

Admins see every ticket. An agent sees tickets of their teams, tickets no team owns yet
(the shared triage queue) and tickets assigned to them. Anything an agent may not see is
answered with 404, so ticket numbers cannot be probed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user
from sqlalchemy import ColumnElement, or_, true

from helpdesk.auth.models import Agent
from helpdesk.customers.models import Customer
from helpdesk.db import db
from helpdesk.tickets.models import Attachment, Ticket

F = TypeVar("F", bound=Callable[..., Any])


def visible_tickets(agent: Agent) -> ColumnElement[bool]:
    """A SQL condition selecting the tickets ``agent`` may see."""
    if agent.is_admin:
        return true()
    team_ids = [team.id for team in agent.teams]
    return or_(Ticket.team_id.is_(None), Ticket.team_id.in_(team_ids),
               Ticket.assignee_id == agent.id)


def can_view_ticket(agent: Agent, ticket: Ticket) -> bool:
    if agent.is_admin or ticket.team_id is None or ticket.assignee_id == agent.id:
        return True
    return ticket.team_id in {team.id for team in agent.teams}


def ticket_for(agent: Agent, ticket_id: int) -> Ticket:
    """Load a ticket the agent may see, or answer 404."""
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None or not can_view_ticket(agent, ticket):
        abort(404)
    return ticket


def attachment_for(agent: Agent, attachment_id: int) -> Attachment:
    """Load an attachment on a ticket the agent may see, or answer 404."""
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or not can_view_ticket(agent, attachment.message.ticket):
        abort(404)
    return attachment


def admin_required(view: F) -> F:
    """Restrict a (login-protected) view to admins."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated or not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def customer_for(agent: Agent, customer_id: int) -> Customer:
    """Load a customer for the console: every agent may see profiles (the sidebar shows them);
    the tickets listed with them are filtered by :func:`visible_tickets`."""
    customer = db.session.get(Customer, customer_id)
    if customer is None or not agent.is_active:
        abort(404)
    return customer


def can_merge_customers(agent: Agent) -> bool:
    """Merging (and undoing a merge) moves every ticket of a customer: admins only."""
    return bool(agent.is_admin)
