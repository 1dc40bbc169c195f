"""Turning a stored raw email into a ticket: parse -> vet -> dedup -> thread -> customer -> ticket.

Runs as a job per email on the "inbound" queue, in one transaction. Every outcome is written
on the :class:`RawEmail` row (status, verdict and rule hits, error, ticket, thread reason), so
what happened to any mail can be looked up, and the raw bytes stay for a replay.

Two kinds of failure, as in Zulip's email gateway: the *sender's* (unparseable, bounce,
oversize, loop) ends in quarantine or drop, logged at info; *ours* (database, disk) raises so
the job runner retries, and the row stays "new" until an attempt succeeds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from channels.email.models import Mailbox, OutboxEmail, RawEmail, source_ref
from channels.email.parse import ParsedEmail, UnparseableEmail, parse_message
from channels.email.threading import ThreadMatch, find_thread
from channels.email.vetting import Action, Inbound, Verdict, vet
from helpdesk.customers.models import Customer
from helpdesk.customers.operations import find_or_create_customer
from helpdesk.db import db, utcnow
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.operations import NewAttachment, add_customer_message, open_ticket
from helpdesk.tickets.queries import ticket_by_rfc_message_ids

log = logging.getLogger(__name__)


def ingest(raw_email_id: int) -> None:
    """Job: make a ticket, or a message on an existing one, from raw email ``raw_email_id``.

    Idempotent: only a row still "new" is processed, so a re-run or a second copy of the
    job does nothing.
    """
    raw_email = db.session.get(RawEmail, raw_email_id)
    if raw_email is None or raw_email.status != "new":
        return
    try:
        parsed = parse_message(raw_email.raw)
    except UnparseableEmail as error:
        _set_aside(raw_email, "quarantined", str(error))
        return
    raw_email.message_id = parsed.message_id
    raw_email.content_sha256 = parsed.fingerprint
    verdict = _vet(raw_email, parsed)
    if verdict.action in (Action.DROP, Action.QUARANTINE):
        _set_aside(raw_email, "dropped" if verdict.action == Action.DROP else "quarantined",
                   verdict.reason)
        return
    earlier = _earlier_copy(raw_email)
    if earlier is not None:
        raw_email.status = "duplicate"
        raw_email.ticket_id = earlier.ticket_id
        return
    match = _thread(parsed)
    ticket = _continuable_ticket(match)
    customer = find_or_create_customer(parsed.from_addr, parsed.from_name)
    attachments = [NewAttachment(filename=item.filename, content_type=item.content_type,
                                 data=item.data, content_id=item.content_id, inline=item.inline)
                   for item in parsed.attachments]
    if ticket is None:
        ticket = open_ticket(
            customer.as_actor(), customer=customer, subject=parsed.subject,
            body_text=parsed.text, body_html=parsed.html, channel="email",
            team=raw_email.mailbox.team, rfc_message_id=parsed.message_id,
            source_ref=source_ref(raw_email.id), attachments=attachments,
            acknowledge=verdict.allows_autoreply, origin=raw_email.mailbox.address)
    else:
        # The author is whoever wrote, even when a colleague of the requester replies
        # through a forwarded token.
        add_customer_message(
            customer.as_actor(), ticket, body_text=parsed.text, body_html=parsed.html,
            channel="email", rfc_message_id=parsed.message_id,
            source_ref=source_ref(raw_email.id), attachments=attachments, author=customer)
        raw_email.thread_reason = match.reason if match else None
    raw_email.status = "ingested"
    raw_email.ticket_id = ticket.id


def replay(raw_email: RawEmail) -> None:
    """Ingest a quarantined or dropped raw email again (after a fix to the parser or the
    rules); its previous outcome is cleared. Mail that became a ticket is refused."""
    if raw_email.status not in ("quarantined", "dropped"):
        raise ValueError(f"raw email {raw_email.id} is {raw_email.status}, not set aside")
    raw_email.status = "new"
    raw_email.verdict = raw_email.hits = raw_email.error = None
    db.session.flush()
    ingest(raw_email.id)


def _set_aside(raw_email: RawEmail, status: str, reason: str) -> None:
    log.info("raw email %s %s: %s", raw_email.id, status, reason)
    raw_email.status = status
    raw_email.error = reason


def _vet(raw_email: RawEmail, parsed: ParsedEmail) -> Verdict:
    config = current_app.config
    ours = set(db.session.scalars(select(Mailbox.address)))
    ours.add(str(config["SUPPORT_ADDRESS"]))
    verdict = vet(Inbound(parsed=parsed, size=raw_email.size, our_addresses=ours,
                          mail_domain=config["MAIL_DOMAIN"],
                          max_bytes=config["MAX_EMAIL_BYTES"],
                          recent_tickets_from_sender=_tickets_in_last_hour(parsed.from_addr)))
    raw_email.verdict = verdict.action.value
    raw_email.hits = [hit.as_json() for hit in verdict.hits]
    return verdict


def _tickets_in_last_hour(sender: str) -> int:
    if not sender:
        return 0
    return db.session.scalar(
        select(func.count(Ticket.id)).join(Customer, Customer.id == Ticket.customer_id)
        .where(Customer.email == sender, Ticket.created_at >= utcnow() - timedelta(hours=1))
    ) or 0


def _earlier_copy(raw_email: RawEmail) -> RawEmail | None:
    """An earlier raw email that is the same mail: same Message-ID *and* same content.

    Message-ID alone is no proof: some senders reuse one for different mails (FreeScout
    #5591 lost a mail that way). The same mail fetched from two of our mailboxes (To + Cc)
    or re-fetched after a UIDVALIDITY reset matches on both.
    """
    same_id = (RawEmail.message_id == raw_email.message_id if raw_email.message_id
               else RawEmail.message_id.is_(None))
    return db.session.scalar(
        select(RawEmail)
        .where(same_id, RawEmail.content_sha256 == raw_email.content_sha256,
               RawEmail.status.in_(("ingested", "duplicate")), RawEmail.id != raw_email.id)
        .order_by(RawEmail.id).limit(1))


def _thread(parsed: ParsedEmail) -> ThreadMatch | None:
    config = current_app.config
    return find_thread(parsed, secret=config["SECRET_KEY"], mail_domain=config["MAIL_DOMAIN"],
                       ticket_for_message_ids=_ticket_for_message_ids,
                       requester_of=_requester_of)


def _ticket_for_message_ids(message_ids: Sequence[str]) -> int | None:
    ticket = ticket_by_rfc_message_ids(message_ids)
    if ticket is not None:
        return ticket.id
    # Our automatic mail (acknowledgements) is in the outbox but on no ticket message.
    return db.session.scalar(
        select(OutboxEmail.ticket_id).where(OutboxEmail.message_id.in_(message_ids))
        .order_by(OutboxEmail.id.desc()).limit(1))


def _requester_of(ticket_id: int) -> str | None:
    ticket = db.session.get(Ticket, ticket_id)
    return ticket.customer.email if ticket is not None else None


def _continuable_ticket(match: ThreadMatch | None) -> Ticket | None:
    """The matched ticket, unless it is gone or closed (a closed ticket is history: a new
    message starts a new ticket rather than disappearing into it)."""
    ticket = db.session.get(Ticket, match.ticket_id) if match else None
    return ticket if ticket is not None and ticket.status != "closed" else None
