"""The per-agent open-ticket counter (:class:`AgentLoad`), kept in the same transaction as the
ticket write that changes it.

Mapper events see every ORM insert, update and delete of a ticket with the old and new
assignee and status, and add the difference with one upsert per agent. ``assignee_id`` and
``status`` keep their previous value when set (``active_history``) so the difference is known
even on a ticket whose row was expired by a commit. Writes that bypass the ORM (bulk loads)
call :func:`recount_open_loads` afterwards; the migration that adds the table does the same.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Connection, delete, event, func, insert, inspect, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapper

from helpdesk.automation.models import AgentLoad
from helpdesk.db import db
from helpdesk.tickets.models import UNRESOLVED_STATUSES, Ticket


def _counted(assignee_id: int | None, status: str | None) -> int | None:
    """The agent whose load this (assignee, status) pair counts in, if any."""
    return assignee_id if assignee_id is not None and status in UNRESOLVED_STATUSES else None


def _before_and_after(ticket: Ticket, attribute: str) -> tuple[Any, Any]:
    history = inspect(ticket).attrs[attribute].history
    now = getattr(ticket, attribute)
    before = history.deleted[0] if history.deleted else (None if history.added else now)
    return before, now


def _apply(connection: Connection, changes: Counter[int]) -> None:
    upsert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    for agent_id, delta in changes.items():
        if delta:
            statement = upsert(AgentLoad).values(agent_id=agent_id, open_tickets=delta)
            connection.execute(statement.on_conflict_do_update(
                index_elements=[AgentLoad.agent_id],
                set_={"open_tickets": AgentLoad.open_tickets + delta}))


@event.listens_for(Ticket, "after_insert")
def _ticket_inserted(mapper: Mapper[Ticket], connection: Connection, ticket: Ticket) -> None:
    agent_id = _counted(ticket.assignee_id, ticket.status)
    if agent_id is not None:
        _apply(connection, Counter({agent_id: 1}))


@event.listens_for(Ticket, "after_update")
def _ticket_updated(mapper: Mapper[Ticket], connection: Connection, ticket: Ticket) -> None:
    old_assignee, new_assignee = _before_and_after(ticket, "assignee_id")
    old_status, new_status = _before_and_after(ticket, "status")
    changes: Counter[int] = Counter()
    if (old := _counted(old_assignee, old_status)) is not None:
        changes[old] -= 1
    if (new := _counted(new_assignee, new_status)) is not None:
        changes[new] += 1
    _apply(connection, changes)


@event.listens_for(Ticket, "after_delete")
def _ticket_deleted(mapper: Mapper[Ticket], connection: Connection, ticket: Ticket) -> None:
    old_assignee, _ = _before_and_after(ticket, "assignee_id")
    old_status, _ = _before_and_after(ticket, "status")
    agent_id = _counted(old_assignee, old_status)
    if agent_id is not None:
        _apply(connection, Counter({agent_id: -1}))


def recount_open_loads() -> None:
    """Count every agent's unresolved tickets again (after writes that bypassed the ORM).
    Idempotent; flushes, never commits."""
    db.session.flush()
    db.session.execute(delete(AgentLoad))
    db.session.execute(insert(AgentLoad).from_select(
        ["agent_id", "open_tickets"],
        select(Ticket.assignee_id, func.count())
        .where(Ticket.assignee_id.is_not(None), Ticket.status.in_(UNRESOLVED_STATUSES))
        .group_by(Ticket.assignee_id)))
