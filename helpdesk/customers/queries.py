from __future__ import annotations

from sqlalchemy import func, select

from helpdesk.customers.models import Customer
from helpdesk.db import db
from helpdesk.tickets.models import Ticket


def recent_tickets(customer: Customer, limit: int = 5) -> list[Ticket]:
    return list(db.session.scalars(
        select(Ticket).where(Ticket.customer_id == customer.id)
        .order_by(Ticket.created_at.desc()).limit(limit)))


def ticket_count(customer: Customer) -> int:
    return db.session.scalar(
        select(func.count(Ticket.id)).where(Ticket.customer_id == customer.id)) or 0
