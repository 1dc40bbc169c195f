"""Ticket writes. Each takes the acting person explicitly, flushes, and never commits.

Every change is written to the ticket's history (:class:`TicketEvent`). Mail to the customer
goes through the outbound-mail port inside the same transaction, so a rollback sends nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from flask import current_app, render_template

from helpdesk.actors import SYSTEM, Actor
from helpdesk.auth.models import Agent
from helpdesk.automation.operations import route_ticket
from helpdesk.customers.models import Customer
from helpdesk.db import db, utcnow
from helpdesk.ports import OutgoingMail, outbound_mail
from helpdesk.signals import ticket_created, ticket_message_added, ticket_solved
from helpdesk.sla.operations import (
    apply_sla,
    record_agent_reply,
    record_customer_message,
    record_status_change,
    start_ticket_sla,
)
from helpdesk.teams.models import Team
from helpdesk.tickets import storage
from helpdesk.tickets.content import safe_filename, sanitize_html
from helpdesk.tickets.history import record_event
from helpdesk.tickets.models import (
    CHANNELS,
    PRIORITIES,
    STATUSES,
    Attachment,
    Message,
    Ticket,
    TicketParticipant,
)

#: Statuses a new customer message moves back to "open": the team owes an answer again.
_REOPENED_BY_CUSTOMER = ("pending", "on-hold", "solved")


class Keep(Enum):
    """Marks an :func:`update_ticket` argument as "leave as it is" (``None`` means clear)."""

    KEEP = "keep"


KEEP = Keep.KEEP


class InvalidChange(ValueError):
    """A requested change the ticket cannot take (unknown status, priority, ...)."""


@dataclass(frozen=True, slots=True)
class NewAttachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False
    #: A file holding the content instead of ``data`` (a big attachment never held in
    #: memory); storing the attachment moves the file into storage.
    path: Path | None = None

    def save(self) -> tuple[str, int]:
        """Store the content; return its storage name and size."""
        if self.path is None:
            return storage.save_bytes(self.data), len(self.data)
        size = self.path.stat().st_size
        return storage.save_file(self.path), size


_record = record_event


#: Ticket fields SLA policy conditions read: when a rule changes one, the policy is re-chosen.
_SLA_FIELDS = frozenset({"priority", "team", "tags"})


def _route(ticket: Ticket, event: str, changed_by_actor: Sequence[str] = (),
           body: str | None = None) -> list[str]:
    """Apply the routing rules; when they change a field an SLA condition reads after
    creation, the policy is chosen again and the clocks re-measured from the ledger (on
    creation the SLA is chosen after routing anyway)."""
    changed = route_ticket(ticket, event, changed_by_actor, body)
    if event == "updated" and _SLA_FIELDS.intersection(changed):
        _record(ticket, SYSTEM, "sla", new=apply_sla(ticket))
    return changed


def _add_message(ticket: Ticket, *, kind: str, channel: str, body_text: str,
                 body_html: str | None, author_agent: Agent | None = None,
                 author_customer: Customer | None = None, rfc_message_id: str | None = None,
                 source_ref: str | None = None,
                 attachments: Sequence[NewAttachment] = (),
                 body_full: str | None = None) -> Message:
    """Add a message to the session (written at the caller's flush)."""
    message = Message(
        ticket=ticket, kind=kind, channel=channel, body_text=body_text,
        body_html=sanitize_html(body_html) if body_html else None,
        body_full=body_full if body_full and body_full != body_text else None,
        author_agent=author_agent, author_customer=author_customer,
        rfc_message_id=rfc_message_id, source_ref=source_ref, created_at=utcnow())
    for item in attachments:
        storage_name, size = item.save()
        message.attachments.append(Attachment(
            filename=safe_filename(item.filename), content_type=item.content_type[:255],
            size=size, storage_name=storage_name, content_id=item.content_id,
            inline=item.inline))
    db.session.add(message)
    if ticket.id is not None:  # a new ticket was just stamped with its creation time
        ticket.updated_at = message.created_at
    return message


def open_ticket(actor: Actor, *, customer: Customer, subject: str, body_text: str,
                channel: str, body_html: str | None = None, priority: str = "normal",
                team: Team | None = None, rfc_message_id: str | None = None,
                source_ref: str | None = None, attachments: Sequence[NewAttachment] = (),
                acknowledge: bool = True, origin: str | None = None,
                tags: Sequence[str] = (), body_full: str | None = None) -> Ticket:
    """Open a ticket with the customer's first message; set SLA deadlines; acknowledge.

    ``acknowledge=False`` suppresses the acknowledgement mail (mail that must not be answered
    automatically, such as auto-replies that still deserve a ticket). ``body_full``: the
    whole text when ``body_text`` is only the new part of a reply.

    Routing and the SLA are decided before anything is written, so one flush writes the
    ticket's row once, complete, with its message, history and SLA rows beside it.
    """
    if channel not in CHANNELS:
        raise InvalidChange(f"unknown channel {channel!r}")
    if priority not in PRIORITIES:
        raise InvalidChange(f"unknown priority {priority!r}")
    now = utcnow()
    # ``participants=[]``: known empty, so adding one later needs no read.
    ticket = Ticket(subject=(subject.strip() or "(no subject)")[:500], status="new",
                    priority=priority, channel=channel, customer=customer, team=team,
                    origin=origin, tags=list(tags), custom_fields={},
                    created_at=now, updated_at=now, participants=[])
    db.session.add(ticket)
    # The look-ups below (rules, policies, the team's assignment settings) must not write
    # the half-decided ticket early: that would cost an UPDATE of each field decided later.
    with db.session.no_autoflush:
        _record(ticket, actor, "created", new=channel)
        message = _add_message(ticket, kind="customer", channel=channel, body_text=body_text,
                               body_html=body_html, author_customer=customer,
                               rfc_message_id=rfc_message_id, source_ref=source_ref,
                               attachments=attachments, body_full=body_full)
        # Before the SLA: rules may set the priority and team it reads.
        _route(ticket, "created", body=body_text)
        policy = start_ticket_sla(ticket)
        if policy:
            _record(ticket, SYSTEM, "sla", new=policy)
    db.session.flush()
    if acknowledge:
        _send_acknowledgement(ticket)
    ticket_created.send(ticket, actor=actor)
    ticket_message_added.send(ticket, message=message, actor=actor)
    return ticket


def _send_acknowledgement(ticket: Ticket) -> None:
    context = {"ticket": ticket, "helpdesk_name": current_app.config["HELPDESK_NAME"]}
    outbound_mail().send(OutgoingMail(
        ticket_id=ticket.id, to=ticket.customer.email,
        subject=f"[{ticket.reference}] {ticket.subject}",
        text=render_template("tickets/mail/acknowledgement.txt", **context),
        automatic=True))


def add_customer_message(actor: Actor, ticket: Ticket, *, body_text: str, channel: str,
                         body_html: str | None = None, rfc_message_id: str | None = None,
                         source_ref: str | None = None,
                         attachments: Sequence[NewAttachment] = (),
                         author: Customer | None = None,
                         body_full: str | None = None) -> Message:
    """Add a customer's follow-up; a waiting or solved ticket goes back to "open".

    ``author`` is who wrote it when that is not the requester (a colleague in CC).
    """
    message = _add_message(ticket, kind="customer", channel=channel, body_text=body_text,
                           body_html=body_html, author_customer=author or ticket.customer,
                           rfc_message_id=rfc_message_id, source_ref=source_ref,
                           attachments=attachments, body_full=body_full)
    _record(ticket, actor, "message", new=channel)
    if ticket.status in _REOPENED_BY_CUSTOMER:
        _set_status(ticket, actor, "open")
    record_customer_message(ticket, message.created_at)
    _route(ticket, "updated", body=body_text)
    db.session.flush()
    ticket_message_added.send(ticket, message=message, actor=actor)
    return message


def reply_to_customer(actor: Actor, agent: Agent, ticket: Ticket, *, body_text: str,
                      attachments: Sequence[NewAttachment] = ()) -> Message:
    """Send a public reply by email; meets the first-reply target; a new ticket becomes open."""
    if not body_text.strip():
        raise InvalidChange("a reply needs text")
    message = _add_message(ticket, kind="reply", channel="email", body_text=body_text,
                           body_html=None, author_agent=agent, attachments=attachments)
    db.session.flush()  # the outgoing mail names the message and its attachments by id
    message.rfc_message_id = outbound_mail().send(OutgoingMail(
        ticket_id=ticket.id, message_id=message.id, to=ticket.customer.email,
        subject=f"Re: [{ticket.reference}] {ticket.subject}", text=body_text,
        attachment_ids=tuple(attachment.id for attachment in message.attachments))) or None
    if ticket.first_replied_at is None:
        ticket.first_replied_at = message.created_at
    record_agent_reply(ticket, message.created_at)
    _record(ticket, actor, "reply")
    if ticket.status == "new":
        _set_status(ticket, actor, "open")
    db.session.flush()
    ticket_message_added.send(ticket, message=message, actor=actor)
    return message


def add_internal_note(actor: Actor, agent: Agent, ticket: Ticket, *, body_text: str,
                      channel: str = "web") -> Message:
    """Add a note only agents see; the customer is not told."""
    if not body_text.strip():
        raise InvalidChange("a note needs text")
    message = _add_message(ticket, kind="note", channel=channel, body_text=body_text,
                           body_html=None, author_agent=agent)
    _record(ticket, actor, "note")
    db.session.flush()
    return message


def add_participant(actor: Actor, ticket: Ticket, customer: Customer) -> bool:
    """Make ``customer`` a participant of ``ticket`` (not the requester; idempotent).
    Returns whether they were added now. Written at the caller's next flush, so the
    participants of one mail go in one statement."""
    # By object, not id: a participant added earlier in this unit of work has no
    # ``customer_id`` until the flush (and neither has the requester of a new ticket).
    if customer is ticket.customer or any(
            participant.customer is customer for participant in ticket.participants):
        return False
    ticket.participants.append(TicketParticipant(customer=customer))
    _record(ticket, actor, "participant", new=customer.email)
    return True


def merge_ticket(actor: Actor, source: Ticket, target: Ticket) -> None:
    """Move every message and participant of ``source`` onto ``target`` and close
    ``source`` as merged (its history says where it went). For one conversation that
    arrived as two tickets."""
    if source.id == target.id:
        raise InvalidChange("a ticket cannot be merged into itself")
    for message in list(source.messages):
        message.ticket = target
    for participant in list(source.participants):
        add_participant(actor, target, participant.customer)
    add_participant(actor, target, source.customer)
    source.merged_into_id = target.id
    _record(target, actor, "merged", old=source.reference, new=target.reference)
    _record(source, actor, "merged", old=source.reference, new=target.reference)
    _set_status(source, actor, "closed")
    target.updated_at = utcnow()
    db.session.flush()


def _set_status(ticket: Ticket, actor: Actor, status: str) -> None:
    if status not in STATUSES:
        raise InvalidChange(f"unknown status {status!r}")
    old = ticket.status
    if old == status:
        return
    ticket.status = status
    ticket.updated_at = utcnow()
    record_status_change(ticket, old)
    _record(ticket, actor, "status", old, status)
    if status == "solved":
        ticket.solved_at = ticket.updated_at
        ticket_solved.send(ticket, actor=actor, old_status=old)
    elif status != "closed":
        ticket.solved_at = None


def update_ticket(actor: Actor, ticket: Ticket, *, status: str | None = None,
                  priority: str | None = None, team: Team | Keep | None = KEEP,
                  assignee: Agent | Keep | None = KEEP) -> list[str]:
    """Change any of status, priority, team and assignee; record each change.

    ``team``/``assignee``: ``None`` clears, an object sets, ``KEEP`` (the default) keeps.
    A priority change recomputes the SLA deadlines. Returns the changed field names.
    """
    changed = []
    if priority is not None and priority != ticket.priority:
        if priority not in PRIORITIES:
            raise InvalidChange(f"unknown priority {priority!r}")
        _record(ticket, actor, "priority", ticket.priority, priority)
        ticket.priority = priority
        policy = apply_sla(ticket)
        _record(ticket, SYSTEM, "sla", new=policy)
        changed.append("priority")
    if not isinstance(team, Keep) and team != ticket.team:
        _record(ticket, actor, "team", ticket.team.name if ticket.team else None,
                team.name if team else None)
        ticket.team = team
        changed.append("team")
        _record(ticket, SYSTEM, "sla", new=apply_sla(ticket))  # conditions may read the team
    if not isinstance(assignee, Keep) and assignee != ticket.assignee:
        _record(ticket, actor, "assignee", ticket.assignee.name if ticket.assignee else None,
                assignee.name if assignee else None)
        ticket.assignee = assignee
        changed.append("assignee")
    if status is not None and status != ticket.status:
        _set_status(ticket, actor, status)
        changed.append("status")
    if changed:
        ticket.updated_at = utcnow()
        _route(ticket, "updated", changed)
        db.session.flush()
    return changed
