"""Helpers for ingest tests that start from stored raw mail (no IMAP server needed: the
poller's part is tested elsewhere; here the question is what ingest makes of the bytes)."""

from __future__ import annotations

from itertools import count

from sqlalchemy import select

from channels.email.ingest import ingest
from channels.email.models import Mailbox, RawEmail
from helpdesk.db import db
from helpdesk.tickets.models import Message, Ticket

_uids = count(1)


def mailbox(address: str = "support@helpdesk.test", name: str = "support") -> Mailbox:
    box = Mailbox(name=name, address=address, imap_host="127.0.0.1", imap_port=993,
                  imap_username=name, imap_password="unused", active=False, last_uid=0)
    db.session.add(box)
    db.session.commit()
    return box


def deliver(box: Mailbox, raw: bytes) -> RawEmail:
    """Store ``raw`` as the poller would, ingest it as the job would, commit."""
    raw_email = RawEmail(mailbox_id=box.id, uidvalidity=1, uid=next(_uids), raw=raw,
                         size=len(raw))
    db.session.add(raw_email)
    db.session.commit()
    ingest(raw_email.id)
    db.session.commit()
    return raw_email


def open_tickets() -> list[Ticket]:
    return list(db.session.scalars(
        select(Ticket).where(Ticket.merged_into_id.is_(None)).order_by(Ticket.id)))


def ticket_of(rfc_message_id: str) -> Ticket:
    message = db.session.scalars(
        select(Message).where(Message.rfc_message_id == rfc_message_id)).one()
    return message.ticket
