"""Mailbox reads."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from channels.email.models import Mailbox, RawEmail
from helpdesk.db import db


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


def mailbox_health() -> list[MailboxHealth]:
    """Every mailbox with its count of quarantined and not-yet-ingested mail."""
    counts = {
        (mailbox_id, status): count for mailbox_id, status, count in db.session.execute(
            select(RawEmail.mailbox_id, RawEmail.status, func.count(RawEmail.id))
            .where(RawEmail.status.in_(("quarantined", "new")))
            .group_by(RawEmail.mailbox_id, RawEmail.status))
    }
    return [MailboxHealth(mailbox, counts.get((mailbox.id, "quarantined"), 0),
                          counts.get((mailbox.id, "new"), 0)) for mailbox in all_mailboxes()]


def recently_set_aside(limit: int = 50) -> list[RawEmail]:
    """The latest quarantined or dropped raw emails, newest first, for admins to review."""
    return list(db.session.scalars(
        select(RawEmail).where(RawEmail.status.in_(("quarantined", "dropped")))
        .order_by(RawEmail.id.desc()).limit(limit)))
