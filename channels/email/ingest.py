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
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from flask import current_app
from sqlalchemy import Select, bindparam, delete, func, select, update
from sqlalchemy.orm import joinedload

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
from channels.email.queries import our_address_bases, our_addresses, undeliverable_addresses
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
from helpdesk.customers.operations import customers_by_email, find_or_create_customers
from helpdesk.db import cached, db, utcnow
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
    outcome = _ingest(raw_email, parse_raw(raw_email))
    # Set only now, after the ticket writes' own flushes: the row then costs one UPDATE.
    for name, value in outcome.items():
        setattr(raw_email, name, value)


#: Fields of the :class:`RawEmail` row that record what ingest did with it.
Outcome = dict[str, Any]


def _ingest(raw_email: RawEmail, parsed: ParsedEmail) -> Outcome:
    # Before any look-up, so a concurrent ingest of the same conversation is seen whole.
    lock_conversation(parsed.message_id, quoted_message_ids(parsed))
    outcome: Outcome = {"message_id": parsed.message_id,
                        "content_sha256": parsed.fingerprint}
    copied = _copied_addresses(parsed)
    # Everyone the mail names, in one look-up: the sender's tickets feed vetting, and the
    # same customers are the requester and participants if the mail is taken in.
    known = customers_by_email([parsed.from_addr, *copied]) if parsed.from_addr else {}
    past = _past(raw_email, parsed, known.get(parsed.from_addr))
    verdict = _vet(raw_email, parsed, past.recent_tickets)
    outcome.update(verdict=verdict.action.value, hits=[hit.as_json() for hit in verdict.hits])
    bounce = detect(parsed)
    if bounce is not None:
        bounced_ticket_id = _record_bounce(raw_email, bounce)
        if bounced_ticket_id is not None:
            return outcome | {"status": "bounce", "ticket_id": bounced_ticket_id}
    if verdict.action in (Action.DROP, Action.QUARANTINE):
        return outcome | _set_aside(raw_email, "dropped" if verdict.action == Action.DROP
                                    else "quarantined", parsed.problem or verdict.reason)
    earlier = (db.session.get(RawEmail, past.earlier_copy_id)
               if past.earlier_copy_id is not None else None)
    if earlier is not None:
        return outcome | {"status": "duplicate", "ticket_id": earlier.ticket_id,
                          "duplicate_of_id": earlier.id}
    agent_token = find_agent_token(parsed, current_app.config["SECRET_KEY"])
    if agent_token is not None:
        return outcome | _ingest_agent_mail(raw_email, parsed, agent_token)
    return outcome | _ingest_customer_mail(raw_email, parsed, verdict, copied, known)


def replay(raw_email: RawEmail) -> None:
    """Ingest a quarantined or dropped raw email again (after a fix to the parser or the
    rules); its previous outcome is cleared. Mail that became a ticket is refused."""
    if raw_email.status not in ("quarantined", "dropped"):
        raise ValueError(f"raw email {raw_email.id} is {raw_email.status}, not set aside")
    raw_email.status = "new"
    raw_email.verdict = raw_email.hits = raw_email.error = None
    db.session.flush()
    ingest(raw_email.id)


def _ingest_customer_mail(raw_email: RawEmail, parsed: ParsedEmail, verdict: Verdict,
                          copied: Sequence[str], known: Mapping[str, Customer]) -> Outcome:
    references = _thread_references(parsed)
    match = _thread(parsed, references)
    ticket = _continuable_ticket(match.ticket_id if match else None)
    reason = match.reason if match and ticket else None
    # Mail that arrived earlier may have quoted this one before it came (reordered
    # delivery): it belongs with them.
    pending = references.get(parsed.message_id or "")
    waiting = _continuable_ticket(pending.ticket_id if pending and not pending.seen else None)
    if ticket is None and waiting is not None:
        ticket, reason = waiting, "pending-reference"
    elif ticket is not None and waiting is not None and waiting.id != ticket.id:
        _merge_provisional(waiting, ticket)
    customers = find_or_create_customers(
        {parsed.from_addr: parsed.from_name, **dict.fromkeys(copied, "")}, known=known)
    customer = customers[parsed.from_addr]
    _clear_undeliverable(parsed.from_addr)
    visible = visible_reply(parsed.text, parsed.html)
    attachments = [NewAttachment(filename=item.filename, content_type=item.content_type,
                                 data=item.data, content_id=item.content_id, inline=item.inline,
                                 path=item.spooled.path if item.spooled else None)
                   for item in parsed.attachments]
    if ticket is None:
        address, team_id = cached(f"email.mailbox:{raw_email.mailbox_id}",
                                  partial(_mailbox_address_and_team, raw_email.mailbox_id))
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
        add_participant(customer.as_actor(), ticket, customer)
    for address in copied:
        add_participant(SYSTEM, ticket, customers[address])
    _index(ticket, parsed, references)
    return {"status": "ingested", "ticket_id": ticket.id, "thread_reason": reason}


def _mailbox_address_and_team(mailbox_id: int) -> tuple[str, int | None]:
    address, team_id = db.session.execute(
        select(Mailbox.address, Mailbox.team_id).where(Mailbox.id == mailbox_id)).one()
    return address, team_id


def _ingest_agent_mail(raw_email: RawEmail, parsed: ParsedEmail,
                       token: AgentToken) -> Outcome:
    """An agent's answer to a notification: their reply or note, but only from their own
    address (the token is theirs alone; a forwarded notification answered by someone else,
    or a spoofed sender without the token, is not the agent)."""
    agent = db.session.get(Agent, token.agent_id)
    ticket = db.session.get(Ticket, token.ticket_id)
    if agent is None or not agent.active or ticket is None:
        return _set_aside(raw_email, "quarantined", "agent token for an unknown agent or ticket")
    if split_plus(agent.email.lower()).base != split_plus(parsed.from_addr).base:
        return _set_aside(
            raw_email, "quarantined",
            f"agent token of agent {agent.id} used by {parsed.from_addr or 'nobody'}")
    text = visible_reply(parsed.text, parsed.html)
    if token.action == "reply":
        message = reply_to_customer(agent.as_actor(), agent, ticket, body_text=text)
    else:
        message = add_internal_note(agent.as_actor(), agent, ticket, body_text=text,
                                    channel="email")
    message.source_ref = source_ref(raw_email.id)
    return {"status": "ingested", "ticket_id": ticket.id,
            "thread_reason": f"agent-{token.action}"}


def _set_aside(raw_email: RawEmail, status: str, reason: str) -> Outcome:
    log.info("raw email %s %s: %s", raw_email.id, status, reason)
    return {"status": status, "error": reason}


def _vet(raw_email: RawEmail, parsed: ParsedEmail, recent_tickets: int) -> Verdict:
    config = current_app.config
    return vet(parsed, Context(
        size=raw_email.size, our_addresses=our_addresses(),
        mail_domain=config["MAIL_DOMAIN"],
        max_bytes=config["MAX_EMAIL_BYTES"],
        recent_tickets_from_sender=recent_tickets,
        blocked_senders=cached(
            "email.blocked", lambda: set(db.session.scalars(select(BlockedSender.pattern))))))


@dataclass(frozen=True, slots=True)
class _Past:
    """What earlier mail tells about this one, read in one statement."""

    #: Tickets the sender opened in the last hour, for vetting's acknowledgement limit.
    recent_tickets: int
    #: An earlier raw email that is this same mail (see :func:`_past_query`).
    earlier_copy_id: int | None


def _past_query(with_message_id: bool) -> Select[int, int | None]:
    """The statement behind :class:`_Past` (built once per shape: composing it costs more
    than running it).

    An earlier copy has the same Message-ID *and* the same content. Message-ID alone is no
    proof: some senders reuse one for different mails (FreeScout #5591 lost a mail that
    way). The same mail fetched from two of our mailboxes (To + Cc) or re-fetched after a
    UIDVALIDITY reset matches on both.
    """
    same_id = (RawEmail.message_id == bindparam("message_id") if with_message_id
               else RawEmail.message_id.is_(None))
    earlier = (select(RawEmail.id)
               .where(same_id, RawEmail.content_sha256 == bindparam("fingerprint"),
                      RawEmail.status.in_(("ingested", "duplicate", "bounce")),
                      RawEmail.id != bindparam("raw_email_id"))
               .order_by(RawEmail.id).limit(1).scalar_subquery())
    # A sender we do not know yet (customer id NULL) matches no ticket.
    recent = (select(func.count(Ticket.id))
              .where(Ticket.customer_id == bindparam("customer_id"),
                     Ticket.created_at >= bindparam("since")).scalar_subquery())
    return select(recent, earlier)


_PAST_QUERIES = {shape: _past_query(shape) for shape in (True, False)}


def _past(raw_email: RawEmail, parsed: ParsedEmail, sender: Customer | None) -> _Past:
    recent, earlier_copy_id = db.session.execute(
        _PAST_QUERIES[parsed.message_id is not None],
        {"message_id": parsed.message_id, "fingerprint": parsed.fingerprint,
         "raw_email_id": raw_email.id, "customer_id": sender.id if sender else None,
         "since": utcnow() - timedelta(hours=1)}).one()
    return _Past(recent or 0, earlier_copy_id)


# -- threading ----------------------------------------------------------------------------------

def _index_ids(parsed: ParsedEmail) -> list[str]:
    """The mail's own Message-ID and those it quotes: its rows in the message index."""
    own = [parsed.message_id] if parsed.message_id else []
    return list(dict.fromkeys(own + [message_id for message_id in quoted_message_ids(parsed)
                                     if message_id]))


def _thread_references(parsed: ParsedEmail) -> dict[str, ThreadReference]:
    """The message index's rows for :func:`_index_ids`, read once for threading, the
    pending-reference check and the index update alike."""
    wanted = _index_ids(parsed)
    if not wanted:
        return {}
    return {row.message_id: row for row in db.session.scalars(
        _THREAD_REFERENCES, {"message_ids": wanted})}


_THREAD_REFERENCES = select(ThreadReference).where(
    ThreadReference.message_id.in_(bindparam("message_ids", expanding=True)))


def _thread(parsed: ParsedEmail, references: Mapping[str, ThreadReference],
            ) -> ThreadMatch | None:
    config = current_app.config
    return find_thread(parsed, secret=config["SECRET_KEY"], mail_domain=config["MAIL_DOMAIN"],
                       ticket_for_message_ids=partial(_ticket_for_message_ids, references),
                       correspondents_of=_correspondents_of)


def _ticket_for_message_ids(references: Mapping[str, ThreadReference],
                            message_ids: Sequence[str]) -> int | None:
    """The ticket of the first of ``message_ids`` (most likely parent first) we know;
    ``references``: the index rows already read for them."""
    for message_id in message_ids:
        if message_id in references:
            return references[message_id].ticket_id
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
    # With its participants: the writer joins them next.
    with_participants = (joinedload(Ticket.participants),)
    ticket = db.session.get(Ticket, ticket_id, options=with_participants) if ticket_id else None
    for _ in range(10):  # merges chain at most a few deep; a cycle cannot loop forever
        if ticket is None or ticket.merged_into_id is None:
            break
        ticket = db.session.get(Ticket, ticket.merged_into_id, options=with_participants)
    return ticket if ticket is not None and ticket.status != "closed" else None


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


def _index(ticket: Ticket, parsed: ParsedEmail,
           existing: Mapping[str, ThreadReference]) -> None:
    """Record the mail's Message-ID as seen on ``ticket``, and the ids it quotes that we do
    not hold yet as pending (see :class:`ThreadReference`); ``existing``: their rows read
    by :func:`_thread_references` (under the conversation lock, so still current)."""
    for message_id in _index_ids(parsed):
        row = existing.get(message_id)
        seen = message_id == parsed.message_id
        if row is None:
            db.session.add(ThreadReference(message_id=message_id[:998], ticket_id=ticket.id,
                                           seen=seen))
        elif seen and not row.seen:
            row.seen, row.ticket_id = True, ticket.id


def _copied_addresses(parsed: ParsedEmail) -> list[str]:
    """CC (and other To) recipients, who join the ticket as participants when configured;
    our own addresses never do (they would answer themselves)."""
    if not current_app.config.get("MAIL_CC_PARTICIPANTS", True):
        return []
    ours = our_address_bases()
    return [address for address in dict.fromkeys([*parsed.to, *parsed.cc])
            if split_plus(address).base not in ours and address != parsed.from_addr]


# -- bounces ------------------------------------------------------------------------------------

def _record_bounce(raw_email: RawEmail, bounce: Bounce) -> int | None:
    """Put a bounce of our mail on the ticket that sent it and mark the failed addresses
    undeliverable; returns that ticket's id. ``None`` when the bounce is not about our mail
    (vetting quarantines it)."""
    ticket_id = _ticket_of_our_mail(bounce.original_message_id)
    ticket = db.session.get(Ticket, ticket_id) if ticket_id else None
    if ticket is None:
        return None
    for address in bounce.recipients:
        marked = db.session.scalar(
            select(UndeliverableAddress).where(UndeliverableAddress.address == address))
        if marked is None:
            db.session.add(UndeliverableAddress(address=address, reason="bounced",
                                                ticket_id=ticket.id, raw_email_id=raw_email.id))
            undeliverable_addresses().add(address)
        record_event(ticket, SYSTEM, "undeliverable", new=address)
    if not bounce.recipients:
        record_event(ticket, SYSTEM, "delivery-delayed", new=bounce.original_message_id)
    return ticket.id


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
    # Knowing the few that bounced spares a DELETE on every mail.
    undeliverable = undeliverable_addresses()
    if address in undeliverable:
        db.session.execute(delete(UndeliverableAddress)
                           .where(UndeliverableAddress.address == address))
        undeliverable.discard(address)

