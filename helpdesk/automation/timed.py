"""Time-based automations: remind, solve or close tickets that waited long enough.

A ticket qualifies when it is in the automation's status and its last activity
(``updated_at``) is older than the automation's delay. Before acting, the sweep stamps
(automation, ticket, that activity): a second run finds the stamp and does nothing, and a ticket
that becomes active again gets a new ``updated_at`` and so qualifies afresh. A reminder does not
count as activity, so "solve after 7 more days" still counts from the customer's silence.

The query runs on ``ix_ticket_status_updated`` (status, updated_at): it reads only tickets of
that status older than the cut-off, never all tickets.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, exists, select

from helpdesk.actors import SYSTEM
from helpdesk.automation.models import AutomationStamp, TimeAutomation
from helpdesk.db import db, utcnow
from helpdesk.ports import OutgoingMail, outbound_mail
from helpdesk.tickets.history import record_event
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.operations import update_ticket

#: Tickets handled per automation per run; the next run continues where this one stopped.
BATCH = 500


def due_tickets(automation: TimeAutomation, now: datetime, limit: int = BATCH) -> list[Ticket]:
    """Tickets the automation should act on now and has not acted on for this activity."""
    cutoff = now - timedelta(hours=automation.after_hours)
    already = exists().where(and_(AutomationStamp.automation_id == automation.id,
                                  AutomationStamp.ticket_id == Ticket.id,
                                  AutomationStamp.since == Ticket.updated_at))
    return list(db.session.scalars(
        select(Ticket).where(Ticket.status == automation.status, Ticket.updated_at <= cutoff,
                             ~already)
        .order_by(Ticket.updated_at, Ticket.id).limit(limit)))


def _mail_customer(ticket: Ticket, automation: TimeAutomation) -> None:
    if not automation.message.strip():
        return
    outbound_mail().send(OutgoingMail(
        ticket_id=ticket.id, to=ticket.customer.email,
        subject=f"[{ticket.reference}] {ticket.subject}",
        # Plain replacement, not str.format: a stray brace an admin typed must not fail a run.
        text=automation.message.replace("{ticket}", ticket.reference)
        .replace("{helpdesk}", current_app.config["HELPDESK_NAME"]),
        automatic=True))


def apply_automation(automation: TimeAutomation, ticket: Ticket, now: datetime) -> None:
    """Stamp, then remind / solve / close one ticket; recorded on its history."""
    db.session.add(AutomationStamp(automation_id=automation.id, ticket_id=ticket.id,
                                   since=ticket.updated_at, done_at=now))
    record_event(ticket, SYSTEM, "automation", automation.name, automation.action)
    if automation.action in ("remind", "solve"):
        _mail_customer(ticket, automation)
    if automation.action == "solve":
        update_ticket(SYSTEM, ticket, status="solved")
    elif automation.action == "close":
        update_ticket(SYSTEM, ticket, status="closed")
    db.session.flush()


def run_time_automations(now: datetime | None = None) -> int:
    """Run every enabled automation over its due tickets. Idempotent; returns tickets acted on."""
    now = now or utcnow()
    automations = list(db.session.scalars(
        select(TimeAutomation).where(TimeAutomation.enabled).order_by(TimeAutomation.id)))
    done = 0
    for automation in automations:
        for ticket in due_tickets(automation, now):
            apply_automation(automation, ticket, now)
            done += 1
    return done


def save_automation(automation: TimeAutomation | None, *, name: str, enabled: bool,
                    status: str, after_hours: int, action: str,
                    message: str) -> TimeAutomation:
    """Create (``automation=None``) or update a time-based automation."""
    if automation is None:
        automation = TimeAutomation()
        db.session.add(automation)
    automation.name = name.strip()
    automation.enabled = enabled
    automation.status = status
    automation.after_hours = after_hours
    automation.action = action
    automation.message = message
    db.session.flush()
    return automation
