"""Ticket reads: queues with keyset pagination, lookups by RFC Message-ID."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, func, or_, select

from helpdesk.auth.models import Agent
from helpdesk.auth.rules import visible_tickets
from helpdesk.db import db
from helpdesk.tickets.models import UNRESOLVED_STATUSES, Message, Ticket, TicketEvent

QUEUES = ("unassigned", "mine", "team", "all")
PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class Cursor:
    """Position after the last row shown: (updated_at, id) of that row."""

    updated_at: datetime
    id: int

    def encode(self) -> str:
        return f"{self.updated_at.timestamp():.6f}_{self.id}"

    @classmethod
    def decode(cls, raw: str | None) -> Cursor | None:
        if not raw:
            return None
        try:
            stamp, ticket_id = raw.split("_", 1)
            return cls(datetime.fromtimestamp(float(stamp), UTC), int(ticket_id))
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class Page:
    tickets: Sequence[Ticket]
    next_cursor: Cursor | None


SelectT = TypeVar("SelectT", bound=Select[Any])


def _queue_filter(statement: SelectT, agent: Agent, queue: str,
                  statuses: Sequence[str]) -> SelectT:
    statement = statement.where(visible_tickets(agent))
    if queue == "unassigned":
        statement = statement.where(Ticket.assignee_id.is_(None))
    elif queue == "mine":
        statement = statement.where(Ticket.assignee_id == agent.id)
    elif queue == "team":
        statement = statement.where(Ticket.team_id.in_([team.id for team in agent.teams]))
    if statuses:
        statement = statement.where(Ticket.status.in_(statuses))
    return statement


def queue_page(agent: Agent, queue: str, statuses: Sequence[str] = UNRESOLVED_STATUSES,
               after: Cursor | None = None, page_size: int = PAGE_SIZE) -> Page:
    """One page of a queue, most recently updated first; keyset-paginated (no OFFSET)."""
    statement = _queue_filter(select(Ticket), agent, queue, statuses)
    if after is not None:
        statement = statement.where(or_(
            Ticket.updated_at < after.updated_at,
            and_(Ticket.updated_at == after.updated_at, Ticket.id < after.id)))
    statement = statement.order_by(Ticket.updated_at.desc(), Ticket.id.desc())
    rows: list[Ticket] = list(db.session.scalars(statement.limit(page_size + 1)))
    next_cursor = None
    if len(rows) > page_size:
        rows = rows[:page_size]
        next_cursor = Cursor(rows[-1].updated_at, rows[-1].id)
    return Page(rows, next_cursor)


def queue_counts(agent: Agent, statuses: Sequence[str] = UNRESOLVED_STATUSES) -> dict[str, int]:
    """How many tickets each queue holds, for the sidebar."""
    counts: dict[str, int] = {}
    for queue in QUEUES:
        statement = _queue_filter(select(func.count(Ticket.id)), agent, queue, statuses)
        counts[queue] = int(db.session.scalar(statement) or 0)
    return counts


def ticket_history(ticket: Ticket) -> list[TicketEvent]:
    return list(db.session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)))


def ticket_by_rfc_message_ids(message_ids: Sequence[str]) -> Ticket | None:
    """The ticket holding a message with any of these RFC Message-IDs (latest wins)."""
    ids = [message_id for message_id in message_ids if message_id]
    if not ids:
        return None
    return db.session.scalar(
        select(Ticket).join(Message, Message.ticket_id == Ticket.id)
        .where(Message.rfc_message_id.in_(ids)).order_by(Message.id.desc()).limit(1))


def message_with_rfc_id(message_id: str) -> Message | None:
    return db.session.scalar(select(Message).where(Message.rfc_message_id == message_id).limit(1))
