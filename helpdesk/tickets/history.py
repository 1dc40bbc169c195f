"""Writing a ticket's history; shared by ticket operations, routing and automations."""

from __future__ import annotations

from helpdesk.actors import Actor
from helpdesk.db import db
from helpdesk.tickets.models import Ticket, TicketEvent


def record_event(ticket: Ticket, actor: Actor, kind: str, old: object = None,
                 new: object = None) -> None:
    """Add one history entry; values are kept as text, cut to the column's 500 characters.

    Nothing is written until the next flush, when all the entries of the unit of work go
    in one statement (the ticket may be new and still without an id)."""
    db.session.add(TicketEvent(
        ticket=ticket, actor_kind=actor.kind, actor_id=actor.id, actor_name=actor.name,
        kind=kind, old_value=None if old is None else str(old)[:500],
        new_value=None if new is None else str(new)[:500]))
