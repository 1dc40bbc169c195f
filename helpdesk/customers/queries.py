"""Customer reads: the customer-360 view beside every ticket and on the customer page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from helpdesk.auth.models import Agent
from helpdesk.auth.rules import visible_tickets
from helpdesk.customers.models import Customer, CustomerIdentity, CustomerMerge, ProfileConflict
from helpdesk.db import db
from helpdesk.surveys.models import SurveyInvitation
from helpdesk.tickets.models import UNRESOLVED_STATUSES, Ticket


def recent_tickets(customer: Customer, limit: int = 5) -> list[Ticket]:
    return list(db.session.scalars(
        select(Ticket).where(Ticket.customer_id == customer.id)
        .order_by(Ticket.created_at.desc()).limit(limit)))


def ticket_count(customer: Customer) -> int:
    return db.session.scalar(
        select(func.count(Ticket.id)).where(Ticket.customer_id == customer.id)) or 0


@dataclass(frozen=True, slots=True)
class Customer360:
    """Everything the sidebar shows about a customer, read in four indexed queries."""

    customer: Customer
    open_tickets: list[Ticket]
    recent_tickets: list[Ticket]
    ratings: list[tuple[int | None, int, Any]]  # (rating, ticket id, answered at), newest first
    open_conflicts: int


def customer_360(agent: Agent, customer: Customer, *, exclude_ticket_id: int | None = None,
                 limit: int = 5) -> Customer360:
    """The customer's profile, their open and recent tickets the agent may see, CSAT answers
    and the number of open profile conflicts."""
    visible = select(Ticket).where(Ticket.customer_id == customer.id, visible_tickets(agent))
    if exclude_ticket_id is not None:
        visible = visible.where(Ticket.id != exclude_ticket_id)
    newest_first = visible.order_by(Ticket.created_at.desc()).limit(limit)
    open_tickets = list(db.session.scalars(
        newest_first.where(Ticket.status.in_(UNRESOLVED_STATUSES))))
    recent = list(db.session.scalars(
        newest_first.where(Ticket.status.not_in(UNRESOLVED_STATUSES))))
    ratings = [(rating, ticket_id, answered_at) for rating, ticket_id, answered_at in
               db.session.execute(
                   select(SurveyInvitation.rating, SurveyInvitation.ticket_id,
                          SurveyInvitation.answered_at)
                   .join(Ticket, Ticket.id == SurveyInvitation.ticket_id)
                   .where(Ticket.customer_id == customer.id,
                          SurveyInvitation.answered_at.is_not(None))
                   .order_by(SurveyInvitation.answered_at.desc()).limit(limit))]
    conflicts = db.session.scalar(select(func.count(ProfileConflict.id)).where(
        ProfileConflict.customer_id == customer.id, ProfileConflict.resolved_at.is_(None))) or 0
    return Customer360(customer, open_tickets, recent, ratings, conflicts)


def identities_of(customer: Customer) -> list[CustomerIdentity]:
    return list(db.session.scalars(select(CustomerIdentity).where(
        CustomerIdentity.customer_id == customer.id).order_by(
        CustomerIdentity.kind, CustomerIdentity.id)))


def open_conflicts(customer: Customer | None = None, limit: int = 100) -> list[ProfileConflict]:
    query = select(ProfileConflict).where(ProfileConflict.resolved_at.is_(None))
    if customer is not None:
        query = query.where(ProfileConflict.customer_id == customer.id)
    return list(db.session.scalars(query.order_by(ProfileConflict.id.desc()).limit(limit)))


def merges_of(customer: Customer) -> list[CustomerMerge]:
    """Merges this customer won or lost, newest first (for the audit list and undo)."""
    return list(db.session.scalars(select(CustomerMerge).where(
        (CustomerMerge.winner_id == customer.id) | (CustomerMerge.loser_id == customer.id))
        .order_by(CustomerMerge.id.desc())))
