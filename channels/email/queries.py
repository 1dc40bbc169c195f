"""Mailbox reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from channels.email.addresses import split_plus
from channels.email.models import BlockedSender, Mailbox, RawEmail, UndeliverableAddress
from helpdesk.db import cached, db, utcnow


def mailbox_named(name: str) -> Mailbox | None:
    return db.session.scalar(select(Mailbox).where(Mailbox.name == name))


def all_mailboxes() -> list[Mailbox]:
    return list(db.session.scalars(select(Mailbox).order_by(Mailbox.name)))


def pending_raw_email_ids(mailbox: Mailbox) -> list[int]:
    """Raw emails of ``mailbox`` stored but not yet ingested, oldest first."""
    return list(db.session.scalars(
        select(RawEmail.id).where(RawEmail.mailbox_id == mailbox.id, RawEmail.status == "new")
        .order_by(RawEmail.id)))


@dataclass(frozen=True, slots=True)
class MailboxHealth:
    mailbox: Mailbox
    quarantined: int
    pending: int
    #: When the oldest mail stored but not yet ingested was fetched (the intake's lag).
    oldest_pending_at: datetime | None

    @property
    def lag(self) -> timedelta | None:
        return utcnow() - self.oldest_pending_at if self.oldest_pending_at else None


def mailbox_health() -> list[MailboxHealth]:
    """Every mailbox with its quarantined and not-yet-ingested mail, and the oldest of those."""
    rows = db.session.execute(
        select(RawEmail.mailbox_id, RawEmail.status, func.count(RawEmail.id),
               func.min(RawEmail.received_at))
        .where(RawEmail.status.in_(("quarantined", "new")))
        .group_by(RawEmail.mailbox_id, RawEmail.status))
    counts = {(mailbox_id, status): (count, oldest)
              for mailbox_id, status, count, oldest in rows}
    health = []
    for mailbox in all_mailboxes():
        pending, oldest = counts.get((mailbox.id, "new"), (0, None))
        quarantined = counts.get((mailbox.id, "quarantined"), (0, None))[0]
        # min() over a UTCDateTime column comes back naive from SQLite.
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        health.append(MailboxHealth(mailbox, quarantined, pending, oldest))
    return health


def recently_set_aside(limit: int = 50, before_id: int | None = None) -> list[RawEmail]:
    """The latest quarantined or dropped raw emails, newest first, for admins to review;
    ``before_id`` continues the list below that row (keyset pagination)."""
    query = select(RawEmail).where(RawEmail.status.in_(("quarantined", "dropped")))
    if before_id is not None:
        query = query.where(RawEmail.id < before_id)
    return list(db.session.scalars(query.order_by(RawEmail.id.desc()).limit(limit)))


def blocked_senders() -> list[BlockedSender]:
    """Every blocked sender, newest first, with who added it."""
    return list(db.session.scalars(select(BlockedSender).order_by(BlockedSender.id.desc())))


def mailbox_addresses() -> set[str]:
    """The addresses of our mailboxes (read once per batch, see ``helpdesk.db.cached``)."""
    return cached("email.mailbox_addresses", lambda: set(
        db.session.scalars(select(Mailbox.address))))


def our_addresses() -> set[str]:
    """Every address that is us: each mailbox's and the installation's support address."""
    return cached("email.ours", lambda: mailbox_addresses() | {
        str(current_app.config["SUPPORT_ADDRESS"]).lower()})


def our_address_bases() -> set[str]:
    """:func:`our_addresses` without plus-tags: ``support+x@`` is us too."""
    return cached("email.ours_base", lambda: {
        split_plus(address).base for address in our_addresses()})


def undeliverable_addresses() -> set[str]:
    """Addresses whose mail bounced for good (automatic mail to them is not sent), read once
    per batch: few addresses ever bounce, and ingest and every acknowledgement ask. Writers
    keep the cached set in step (``channels.email.ingest``)."""
    return cached("email.undeliverable", lambda: set(
        db.session.scalars(select(UndeliverableAddress.address))))
