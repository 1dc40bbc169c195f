"""Turning a stored raw email into a ticket: parse -> vet -> bounce? -> dedup -> thread ->
customer -> ticket, participants and the message index.

Runs as a job per email on the "inbound" queue, in one transaction. Every outcome is written
on the :class:`RawEmail` row (status, verdict and rule hits, error, ticket, thread reason), so
what happened to any mail can be looked up, and the raw bytes stay for a replay.

Two kinds of failure, as in Zulip's email gateway: the *sender's* (unreadable, bounce,
oversize, loop) ends in quarantine or drop, logged at info; *ours* (database, disk) raises so
the job runner retries, and the row stays "new" until an attempt succeeds. Two jobs that
would thread one conversation two ways collide on the message index's unique Message-ID;
the loser is retried and then sees the winner's work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar, cast

from flask import current_app
from sqlalchemy import delete, func, select, update

from channels.email.addresses import split_plus
from channels.email.bounces import Bounce, detect
from channels.email.conversation_lock import lock_conversation
from channels.email.models import (
    BlockedSender,
    Mailbox,
    OutboxEmail,
    RawEmail,
    ThreadReference,
    UndeliverableAddress,
    source_ref,
)
from channels.email.parse import ParsedEmail
from channels.email.quotes import visible_reply
from channels.email.rawstore import parse_raw
from channels.email.threading import (
    AgentToken,
    ThreadMatch,
    find_agent_token,
    find_thread,
    quoted_message_ids,
    ticket_from_message_id,
)
from channels.email.vetting import Action, Context, Verdict, vet
from helpdesk.actors import SYSTEM
from helpdesk.auth.models import Agent
from helpdesk.customers.models import Customer
from helpdesk.customers.operations import find_or_create_customer
from helpdesk.db import db, utcnow
from helpdesk.teams.models import Team
from helpdesk.tickets.history import record_event
from helpdesk.tickets.models import Message, Ticket
from helpdesk.tickets.operations import (
    NewAttachment,
    add_customer_message,
    add_internal_note,
    add_participant,
    merge_ticket,
    open_ticket,
    reply_to_customer,
)
from helpdesk.tickets.queries import ticket_by_rfc_message_ids

log = logging.getLogger(__name__)


def ingest(raw_email_id: int) -> None:
    """Job: make a ticket, or a message on an existing one, from raw email ``raw_email_id``.

    Idempotent: only a row still "new" is processed, so a re-run or a second copy of the
    job does nothing.
    """
    raw_email = db.session.get(RawEmail, raw_email_id)
    if raw_email is not None:
        ingest_row(raw_email)


def ingest_row(raw_email: RawEmail) -> None:
    """:func:`ingest` for a row the caller already holds (a batch job that claimed it)."""
    if raw_email.status != "new":
        return
    parsed = parse_raw(raw_email)
    # Before any look-up, so a concurrent ingest of the same conversation is seen whole.
    lock_conversation(parsed.message_id, quoted_message_ids(parsed))
    # The look-ups up to the dedup read other rows only: writing this row's new fields in
    # between would cost a statement per field.
    with db.session.no_autoflush:
        raw_email.message_id = parsed.message_id
        raw_email.content_sha256 = parsed.fingerprint
        verdict = _vet(raw_email, parsed)
        bounce = detect(parsed)
        if bounce is not None and _record_bounce(raw_email, bounce):
            return
        if verdict.action in (Action.DROP, Action.QUARANTINE):
            _set_aside(raw_email, "dropped" if verdict.action == Action.DROP else "quarantined",
                       parsed.problem or verdict.reason)
            return
        earlier = _earlier_copy(raw_email)
    if earlier is not None:
        raw_email.status = "duplicate"
        raw_email.ticket_id = earlier.ticket_id
        raw_email.duplicate_of_id = earlier.id
        return
    agent_token = find_agent_token(parsed, current_app.config["SECRET_KEY"])
    if agent_token is not None:
        _ingest_agent_mail(raw_email, parsed, agent_token)
        return
    _ingest_customer_mail(raw_email, parsed, verdict)


def replay(raw_email: RawEmail) -> None:
    """Ingest a quarantined or dropped raw email again (after a fix to the parser or the
    rules); its previous outcome is cleared. Mail that became a ticket is refused."""
    if raw_email.status not in ("quarantined", "dropped"):
        raise ValueError(f"raw email {raw_email.id} is {raw_email.status}, not set aside")
    raw_email.status = "new"
    raw_email.verdict = raw_email.hits = raw_email.error = None
    db.session.flush()
    ingest(raw_email.id)


def _ingest_customer_mail(raw_email: RawEmail, parsed: ParsedEmail, verdict: Verdict) -> None:
    match = _thread(parsed)
    ticket = _continuable_ticket(match.ticket_id if match else None)
    reason = match.reason if match and ticket else None
    # Mail that arrived earlier may have quoted this one before it came (reordered
    # delivery): it belongs with them.
    waiting = _continuable_ticket(_pending_ticket_id(parsed.message_id))
    if ticket is None and waiting is not None:
        ticket, reason = waiting, "pending-reference"
    elif ticket is not None and waiting is not None and waiting.id != ticket.id:
        _merge_provisional(waiting, ticket)
    customer = find_or_create_customer(parsed.from_addr, parsed.from_name)
    _clear_undeliverable(parsed.from_addr)
    visible = visible_reply(parsed.text, parsed.html)
    attachments = [NewAttachment(filename=item.filename, content_type=item.content_type,
                                 data=item.data, content_id=item.content_id, inline=item.inline,
                                 path=item.spooled.path if item.spooled else None)
                   for item in parsed.attachments]
    if ticket is None:
        address, team_id = _cached(f"mailbox:{raw_email.mailbox_id}", lambda: db.session.execute(
            select(Mailbox.address, Mailbox.team_id)
            .where(Mailbox.id == raw_email.mailbox_id)).one().tuple())
        ticket = open_ticket(
            customer.as_actor(), customer=customer, subject=parsed.subject,
            body_text=visible, body_full=parsed.text, body_html=parsed.html, channel="email",
            team=db.session.get(Team, team_id) if team_id else None,
            rfc_message_id=parsed.message_id, source_ref=source_ref(raw_email.id),
            attachments=attachments, acknowledge=verdict.allows_autoreply, origin=address)
    else:
        # The author is whoever wrote, even when a colleague of the requester replies
        # through a forwarded token.
        add_customer_message(
            customer.as_actor(), ticket, body_text=visible, body_full=parsed.text,
            body_html=parsed.html, channel="email", rfc_message_id=parsed.message_id,
            source_ref=source_ref(raw_email.id), attachments=attachments, author=customer)
        raw_email.thread_reason = reason
        add_participant(customer.as_actor(), ticket, customer)
    _add_copied_participants(ticket, parsed)
    _index(ticket, parsed)
    raw_email.status = "ingested"
    raw_email.ticket_id = ticket.id


def _ingest_agent_mail(raw_email: RawEmail, parsed: ParsedEmail, token: AgentToken) -> None:
    """An agent's answer to a notification: their reply or note, but only from their own
    address (the token is theirs alone; a forwarded notification answered by someone else,
    or a spoofed sender without the token, is not the agent)."""
    agent = db.session.get(Agent, token.agent_id)
    ticket = db.session.get(Ticket, token.ticket_id)
    if agent is None or not agent.active or ticket is None:
        _set_aside(raw_email, "quarantined", "agent token for an unknown agent or ticket")
        return
    if split_plus(agent.email.lower()).base != split_plus(parsed.from_addr).base:
        _set_aside(raw_email, "quarantined",
                   f"agent token of agent {agent.id} used by {parsed.from_addr or 'nobody'}")
        return
    text = visible_reply(parsed.text, parsed.html)
    if token.action == "reply":
        message = reply_to_customer(agent.as_actor(), agent, ticket, body_text=text)
    else:
        message = add_internal_note(agent.as_actor(), agent, ticket, body_text=text,
                                    channel="email")
    message.source_ref = source_ref(raw_email.id)
    raw_email.status = "ingested"
    raw_email.ticket_id = ticket.id
    raw_email.thread_reason = f"agent-{token.action}"


def _set_aside(raw_email: RawEmail, status: str, reason: str) -> None:
    log.info("raw email %s %s: %s", raw_email.id, status, reason)
    raw_email.status = status
    raw_email.error = reason


def our_addresses() -> set[str]:
    """Every address that is us: each mailbox's and the installation's support address."""
    ours = set(db.session.scalars(select(Mailbox.address)))
    ours.add(str(current_app.config["SUPPORT_ADDRESS"]).lower())
    return ours


_T = TypeVar("_T")
_BATCH_CACHE = "channels.email.ingest.batch"


@contextmanager
def batch_cache() -> Iterator[None]:
    """Within this block, settings ingest looks up for every mail (our addresses, blocked
    senders, the mailbox's address and team) are read once: one job ingests up to a batch of
    50 mails, and a mailbox or block added meanwhile applying from the next batch on is
    fine. Outside it, every mail reads them afresh."""
    db.session.info[_BATCH_CACHE] = {}
    try:
        yield
    finally:
        db.session.info.pop(_BATCH_CACHE, None)


def _cached(key: str, load: Callable[[], _T]) -> _T:
    cache: dict[str, Any] | None = db.session.info.get(_BATCH_CACHE)
    if cache is None:
        return load()
    if key not in cache:
        cache[key] = load()
    return cast(_T, cache[key])


def _vet(raw_email: RawEmail, parsed: ParsedEmail) -> Verdict:
    config = current_app.config
    verdict = vet(parsed, Context(
        size=raw_email.size, our_addresses=_cached("ours", our_addresses),
        mail_domain=config["MAIL_DOMAIN"],
        max_bytes=config["MAX_EMAIL_BYTES"],
        recent_tickets_from_sender=_tickets_in_last_hour(parsed.from_addr),
        blocked_senders=_cached(
            "blocked", lambda: set(db.session.scalars(select(BlockedSender.pattern))))))
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
               RawEmail.status.in_(("ingested", "duplicate", "bounce")),
               RawEmail.id != raw_email.id)
        .order_by(RawEmail.id).limit(1))


# -- threading ----------------------------------------------------------------------------------

def _thread(parsed: ParsedEmail) -> ThreadMatch | None:
    config = current_app.config
    return find_thread(parsed, secret=config["SECRET_KEY"], mail_domain=config["MAIL_DOMAIN"],
                       ticket_for_message_ids=_ticket_for_message_ids,
                       correspondents_of=_correspondents_of)


def _ticket_for_message_ids(message_ids: Sequence[str]) -> int | None:
    """The ticket of the first of ``message_ids`` (most likely parent first) we know."""
    indexed: dict[str, int] = {
        message_id: ticket_id for message_id, ticket_id in db.session.execute(
            select(ThreadReference.message_id, ThreadReference.ticket_id)
            .where(ThreadReference.message_id.in_(message_ids)))}
    for message_id in message_ids:
        if message_id in indexed:
            return indexed[message_id]
    ticket = ticket_by_rfc_message_ids(message_ids)
    if ticket is not None:
        return ticket.id
    # Our automatic mail (acknowledgements) is in the outbox but on no ticket message.
    return db.session.scalar(
        select(OutboxEmail.ticket_id).where(OutboxEmail.message_id.in_(message_ids))
        .order_by(OutboxEmail.id.desc()).limit(1))


def _correspondents_of(ticket_id: int) -> Collection[str]:
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        return ()
    return [ticket.customer.email, *(p.customer.email for p in ticket.participants)]


def _continuable_ticket(ticket_id: int | None) -> Ticket | None:
    """The ticket (followed through merges), unless it is gone or closed (a closed ticket is
    history: a new message starts a new ticket rather than disappearing into it)."""
    ticket = db.session.get(Ticket, ticket_id) if ticket_id else None
    for _ in range(10):  # merges chain at most a few deep; a cycle cannot loop forever
        if ticket is None or ticket.merged_into_id is None:
            break
        ticket = db.session.get(Ticket, ticket.merged_into_id)
    return ticket if ticket is not None and ticket.status != "closed" else None


def _pending_ticket_id(message_id: str | None) -> int | None:
    if not message_id:
        return None
    return db.session.scalar(
        select(ThreadReference.ticket_id)
        .where(ThreadReference.message_id == message_id, ThreadReference.seen.is_(False)))


def _merge_provisional(provisional: Ticket, ticket: Ticket) -> None:
    """Merge a ticket opened by a reply that came before its parent into the conversation's
    ticket, now that the parent linked them. Only while no agent has worked on it: a
    ticket an agent answered is never folded away behind their back."""
    worked_on = db.session.scalar(
        select(func.count(Message.id))
        .where(Message.ticket_id == provisional.id, Message.kind != "customer"))
    if worked_on:
        record_event(ticket, SYSTEM, "related", new=provisional.reference)
        return
    db.session.execute(update(ThreadReference)
                       .where(ThreadReference.ticket_id == provisional.id)
                       .values(ticket_id=ticket.id))
    merge_ticket(SYSTEM, provisional, ticket)


def _index(ticket: Ticket, parsed: ParsedEmail) -> None:
    """Record the mail's Message-ID as seen on ``ticket``, and the ids it quotes that we do
    not hold yet as pending (see :class:`ThreadReference`)."""
    wanted = ([parsed.message_id] if parsed.message_id else []) + [
        message_id for message_id in quoted_message_ids(parsed) if message_id]
    existing = {row.message_id: row for row in db.session.scalars(
        select(ThreadReference).where(ThreadReference.message_id.in_(wanted)))}
    for message_id in dict.fromkeys(wanted):
        row = existing.get(message_id)
        seen = message_id == parsed.message_id
        if row is None:
            db.session.add(ThreadReference(message_id=message_id[:998], ticket_id=ticket.id,
                                           seen=seen))
        elif seen and not row.seen:
            row.seen, row.ticket_id = True, ticket.id
    db.session.flush()


def _add_copied_participants(ticket: Ticket, parsed: ParsedEmail) -> None:
    """CC (and other To) recipients join the ticket as participants, when configured; our
    own addresses never do (they would answer themselves)."""
    if not current_app.config.get("MAIL_CC_PARTICIPANTS", True):
        return
    ours = _cached("ours_base", lambda: {
        split_plus(address).base for address in _cached("ours", our_addresses)})
    for address in dict.fromkeys([*parsed.to, *parsed.cc]):
        if split_plus(address).base in ours or address == parsed.from_addr:
            continue
        add_participant(SYSTEM, ticket, find_or_create_customer(address))


# -- bounces ------------------------------------------------------------------------------------

def _record_bounce(raw_email: RawEmail, bounce: Bounce) -> bool:
    """Put a bounce of our mail on the ticket that sent it and mark the failed addresses
    undeliverable. Returns ``False`` when the bounce is not about our mail (vetting
    quarantines it)."""
    ticket_id = _ticket_of_our_mail(bounce.original_message_id)
    ticket = db.session.get(Ticket, ticket_id) if ticket_id else None
    if ticket is None:
        return False
    for address in bounce.recipients:
        marked = db.session.scalar(
            select(UndeliverableAddress).where(UndeliverableAddress.address == address))
        if marked is None:
            db.session.add(UndeliverableAddress(address=address, reason="bounced",
                                                ticket_id=ticket.id, raw_email_id=raw_email.id))
        record_event(ticket, SYSTEM, "undeliverable", new=address)
    if not bounce.recipients:
        record_event(ticket, SYSTEM, "delivery-delayed", new=bounce.original_message_id)
    raw_email.status = "bounce"
    raw_email.ticket_id = ticket.id
    return True


def _ticket_of_our_mail(message_id: str | None) -> int | None:
    if not message_id:
        return None
    config = current_app.config
    signed = ticket_from_message_id(message_id, config["SECRET_KEY"], config["MAIL_DOMAIN"])
    if signed is not None:
        return signed
    return db.session.scalar(
        select(OutboxEmail.ticket_id).where(OutboxEmail.message_id == message_id).limit(1))


def _clear_undeliverable(address: str) -> None:
    # Mail from the address proves it works again (a full mailbox emptied, a typo fixed).
    db.session.execute(delete(UndeliverableAddress)
                       .where(UndeliverableAddress.address == address))

