"""Email channel tables: mailboxes we read, raw mail we took in, mail we send."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.db import Model, UTCDateTime, utcnow

if TYPE_CHECKING:
    from helpdesk.auth.models import Agent
    from helpdesk.teams.models import Team

#: RawEmail.status: "new" (stored, not yet ingested), then one of the others.
#: "bounce": a delivery failure report about our mail, put on its ticket (never a message).
RAW_STATUSES = ("new", "ingested", "duplicate", "bounce", "quarantined", "dropped")
#: OutboxEmail.status: "failed" is retried with backoff; "suppressed" was never sent
#: because the recipient hit the per-address limit for automatic mail.
OUTBOX_STATUSES = ("queued", "sent", "failed", "suppressed")
#: Mailbox.imap_security: implicit TLS (port 993), STARTTLS (RFC 3501 §6.2.1, port 143), or
#: "none" (plain IMAP: refused for any host but the loopback, see ``imap.connect``).
IMAP_SECURITY = ("tls", "starttls", "none")
#: Mailbox.auth_method: a password (LOGIN) or an OAuth 2 access token (SASL XOAUTH2).
AUTH_METHODS = ("password", "xoauth2")
#: Mailbox.connection_state: how the watcher last reached the mailbox.
CONNECTION_STATES = ("idle", "polling", "reconnecting", "stopped")
#: Prefix of ``Message.source_ref`` for messages that came in as a raw email.
SOURCE_PREFIX = "raw_email:"


def source_ref(raw_email_id: int) -> str:
    """The ``Message.source_ref`` pointing at raw email ``raw_email_id``."""
    return f"{SOURCE_PREFIX}{raw_email_id}"


def raw_email_id_of(reference: str) -> int | None:
    """The raw email id in a ``Message.source_ref``, or ``None`` if it names none."""
    prefix, _, number = reference.partition(":")
    return int(number) if f"{prefix}:" == SOURCE_PREFIX and number.isdigit() else None


class Mailbox(Model):
    """An IMAP mailbox customers write to, and our position in it.

    ``last_uid`` is our own cursor: the server's \\Seen flag is never our record, because
    another client (or a spam filter) may set it. The cursor is only valid for
    ``uidvalidity`` (RFC 3501 §2.3.1.1); a new UIDVALIDITY means the UIDs were renumbered.
    """

    __tablename__ = "email_mailbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    #: The support address customers write to; our From on replies about its tickets.
    address: Mapped[str] = mapped_column(String(254))
    imap_host: Mapped[str] = mapped_column(String(255))
    imap_port: Mapped[int] = mapped_column(default=993)
    imap_security: Mapped[str] = mapped_column(String(10), default="tls")
    imap_username: Mapped[str] = mapped_column(String(255))
    auth_method: Mapped[str] = mapped_column(String(10), default="password")
    #: The password for "password" auth; empty for XOAUTH2.
    imap_password: Mapped[str] = mapped_column(String(255))
    #: XOAUTH2: the OAuth client and refresh token an admin granted, the provider's token
    #: endpoint (RFC 6749 §6), and the current access token with its expiry.
    oauth_token_url: Mapped[str | None] = mapped_column(String(500))
    oauth_client_id: Mapped[str | None] = mapped_column(String(255))
    oauth_client_secret: Mapped[str | None] = mapped_column(String(500))
    oauth_refresh_token: Mapped[str | None] = mapped_column(Text)
    oauth_access_token: Mapped[str | None] = mapped_column(Text)
    oauth_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    imap_folder: Mapped[str] = mapped_column(String(255), default="INBOX")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(default=True)
    # IMAP UIDs and UIDVALIDITY are unsigned 32-bit numbers: too big for a signed INTEGER.
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The watcher's link to the server: "idle" (push), "polling" (server without IDLE),
    #: "reconnecting" (after an error, backing off) or "stopped"; for the health page.
    connection_state: Mapped[str | None] = mapped_column(String(20))
    connection_state_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    team: Mapped[Team | None] = relationship(lazy="joined")


class MailboxLease(Model):
    """Who may fetch a mailbox right now, in embedded mode (no Redis): a lease row.

    Taken and renewed with one conditional UPDATE/INSERT, so two pollers in different
    threads or processes never both hold it; an owner that dies stops renewing and the lease
    lapses after its TTL. With Redis the lock lives there instead (see ``locks.py``).
    """

    __tablename__ = "email_mailbox_lease"

    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("email_mailbox.id", ondelete="CASCADE"), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RawEmail(Model):
    """One fetched email, byte for byte, and what became of it.

    Unique on (mailbox, uidvalidity, uid), so fetching a message twice stores it once. Kept
    after ingest so any decision can be explained and any mail replayed.
    """

    __tablename__ = "email_raw"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "uidvalidity", "uid"),
        Index("ix_email_raw_dedup", "message_id", "content_sha256"),
        Index("ix_email_raw_status_received", "status", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("email_mailbox.id", ondelete="CASCADE"))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    #: The whole message; only the header when the message was too big to fetch.
    #: Deferred: only ingest and the console's "show original" need the bytes, and a big
    #: mail's would otherwise ride along with every look-up of the row. Empty when the mail
    #: is in a file instead (``raw_storage_name``): read it through ``rawstore.py``.
    raw: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    #: The attachment storage's name of the file holding a mail bigger than
    #: ``MAIL_SPOOL_BYTES``, fetched there in pieces: never one ``bytes`` in any process.
    raw_storage_name: Mapped[str | None] = mapped_column(String(32))
    #: The message's size as the server reported it (RFC822.SIZE).
    size: Mapped[int]
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default="new")
    #: The vetting verdict and every rule hit (``[{"rule", "action", "detail"}]``).
    verdict: Mapped[str | None] = mapped_column(String(40))
    hits: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    #: Why the mail was quarantined or dropped, in words.
    error: Mapped[str | None] = mapped_column(Text)
    #: How the mail was matched to an existing ticket ("references", "subject-tag", ...).
    thread_reason: Mapped[str | None] = mapped_column(String(40))
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket.id", ondelete="SET NULL"), index=True)
    message_id: Mapped[str | None] = mapped_column(String(998))
    content_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    #: For a "duplicate": the earlier copy of the same mail (another mailbox, a re-fetch).
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("email_raw.id", ondelete="SET NULL"))

    mailbox: Mapped[Mailbox] = relationship()


class OutboxEmail(Model):
    """One email to send: composed in the transaction that decided to send it.

    Delivery is a job that reads this row, so a crash between commit and SMTP loses nothing
    and a mail is never sent for a change that rolled back.
    """

    __tablename__ = "email_outbox"
    #: Counting recent automatic mail per recipient (the auto-reply rate limit).
    __table_args__ = (Index("ix_email_outbox_to_created", "to", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket.id", ondelete="SET NULL"), index=True)
    mail_from: Mapped[str] = mapped_column(String(254))
    to: Mapped[str] = mapped_column(String(254))
    #: Copied recipients (a reply's ticket participants); with ``to``, the SMTP envelope.
    cc: Mapped[list[str] | None] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(998), index=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    automatic: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    #: When a failed mail is due again (exponential backoff); the sweep re-queues it then.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ThreadReference(Model):
    """The message index threading reads: every Message-ID we know, with its ticket.

    ``seen`` rows are mail we hold. Unseen rows are *pending*: Message-IDs that a mail we
    hold quoted (In-Reply-To / References) before the mail itself arrived, as happens when
    delivery reorders a conversation. When the quoted mail turns up, it joins that ticket
    (and a ticket opened meanwhile by another part of the conversation is merged in).

    Unique on ``message_id``: two ingest jobs that would put one Message-ID on two tickets
    collide here, and the loser's transaction is retried and then finds the winner's row.
    """

    __tablename__ = "email_thread_reference"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"),
                                           index=True)
    seen: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UndeliverableAddress(Model):
    """An address our mail bounced from for good. Automatic mail to it is not sent; agents
    see the failure on the ticket. A later mail *from* the address clears it."""

    __tablename__ = "email_undeliverable_address"

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(254), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="SET NULL"))
    raw_email_id: Mapped[int | None] = mapped_column(
        ForeignKey("email_raw.id", ondelete="SET NULL"))
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BlockedSender(Model):
    """A sender whose mail is dropped by vetting: a whole address or ``@domain``."""

    __tablename__ = "email_blocked_sender"

    id: Mapped[int] = mapped_column(primary_key=True)
    pattern: Mapped[str] = mapped_column(String(254), unique=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The admin who added it (``None`` when added outside the console or since deleted).
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))

    created_by: Mapped[Agent | None] = relationship(lazy="joined")
