"""Outgoing mail: the core's :class:`~helpdesk.ports.OutboundMail` over SMTP, via an outbox.

``send`` composes the message and stores it as an :class:`OutboxEmail` row in the caller's
transaction; :func:`deliver` (a job on the "outbound" queue, queued after commit) hands it to
the SMTP server. A rollback therefore sends nothing, and a crash after commit loses nothing.
"""

from __future__ import annotations

import logging
import random
import smtplib
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import BindParameter, Select, bindparam, func, literal, select, union_all

from channels.email.addresses import normalize_address, split_plus
from channels.email.compose import Draft, OutgoingAttachment, compose_message
from channels.email.models import SOURCE_PREFIX, Mailbox, OutboxEmail, RawEmail, raw_email_id_of
from channels.email.queries import (
    mailbox_addresses,
    our_address_bases,
    undeliverable_addresses,
)
from channels.email.threading import agent_reply_address, make_message_id, reply_address
from helpdesk import jobs
from helpdesk.db import after_commit, db, utcnow
from helpdesk.ports import OutgoingMail, Recipients
from helpdesk.tickets import storage
from helpdesk.tickets.models import Attachment, Message, Ticket

log = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 60
RETRY_BASE_SECONDS = 60
RETRY_MAX_SECONDS = 6 * 3600


class SmtpOutboundMail:
    """The email channel's implementation of the core's outbound-mail port."""

    def send(self, mail: OutgoingMail) -> str:
        """Compose ``mail``, store it in the outbox and queue its delivery after commit.

        Returns our Message-ID for it, or ``""`` when the recipient address is unusable
        (logged; nothing is queued).
        """
        recipient = normalize_address(mail.to)
        if recipient is None:
            log.warning("not sending mail for ticket %s: invalid recipient address",
                        mail.ticket_id)
            return ""
        config = current_app.config
        ticket = db.session.get(Ticket, mail.ticket_id)
        if ticket is None:
            raise LookupError(f"ticket {mail.ticket_id} does not exist")
        sender = _sender_address(ticket)
        in_reply_to, references = _thread_headers(ticket)
        message_id = make_message_id(ticket.id, config["SECRET_KEY"], config["MAIL_DOMAIN"])
        cc = _copied_recipients(ticket, recipient) if mail.message_id is not None else ()
        text, reply_to = mail.text, reply_address(sender, ticket.id, config["SECRET_KEY"])
        if mail.reply_as_agent_id is not None:
            text, reply_to = _answerable_by_agent(mail.text, ticket.id, mail.reply_as_agent_id,
                                                  sender)
        message = compose_message(Draft(
            from_address=sender,
            from_name=config["HELPDESK_NAME"],
            to=recipient,
            cc=cc,
            subject=mail.subject,
            text=text,
            html=mail.html,
            message_id=message_id,
            mail_domain=config["MAIL_DOMAIN"],
            reply_to=reply_to,
            in_reply_to=in_reply_to,
            references=references,
            automatic=mail.automatic,
            attachments=_attachments(mail.attachment_ids),
        ))
        outbox = OutboxEmail(ticket_id=ticket.id, mail_from=sender, to=recipient,
                             cc=list(cc) or None, subject=mail.subject, message_id=message_id,
                             raw=message.as_bytes(), automatic=mail.automatic)
        if mail.automatic and _automatic_mail_in_last_hour(recipient) >= \
                config["MAIL_AUTOMATIC_PER_HOUR"]:
            # An auto-responder that ignores Auto-Submitted would answer every mail of ours
            # (FreeScout #688): past the limit, automatic mail is kept but not sent.
            outbox.status = "suppressed"
            outbox.last_error = "automatic mail limit per recipient per hour reached"
            log.info("suppressed automatic mail to a recipient over the hourly limit "
                     "(ticket %s)", ticket.id)
        elif mail.automatic and recipient in undeliverable_addresses():
            # Our mail to it bounced for good: automatic mail would only bounce again.
            outbox.status = "suppressed"
            outbox.last_error = "recipient address is undeliverable (bounced)"
        db.session.add(outbox)
        db.session.flush()
        if outbox.status == "queued":
            _queue_delivery(outbox.id)
        return message_id

    def reply_recipients(self, ticket_id: int) -> Recipients:
        """The requester, with the ticket's participants on Cc (see
        :func:`_copied_recipients`)."""
        ticket = db.session.get(Ticket, ticket_id)
        if ticket is None:
            raise LookupError(f"ticket {ticket_id} does not exist")
        to = normalize_address(ticket.customer.email) or ""
        return Recipients(to=to, cc=_copied_recipients(ticket, to) if to else ())


def _copied_recipients(ticket: Ticket, to: str) -> tuple[str, ...]:
    """The participants a reply on ``ticket`` to ``to`` copies: every participant but our
    own addresses (a mailbox would take our reply in as customer mail) and addresses our
    mail bounced from for good. None when ``MAIL_CC_PARTICIPANTS`` is off: then CC'd
    people do not join the conversation."""
    if not current_app.config["MAIL_CC_PARTICIPANTS"] or not ticket.participants:
        return ()
    excluded = our_address_bases() | {split_plus(to).base}
    candidates = [address for address in (normalize_address(participant.customer.email)
                                          for participant in ticket.participants)
                  if address and split_plus(address).base not in excluded]
    bounced = undeliverable_addresses()
    return tuple(dict.fromkeys(address for address in candidates if address not in bounced))


def _answerable_by_agent(text: str, ticket_id: int, agent_id: int,
                         sender: str) -> tuple[str, str]:
    """The text and Reply-To of a notification to an agent: answering it replies to the
    customer through the agent's own signed token, and the text names the address for an
    internal note instead (see ``threading.agent_reply_address``)."""
    secret = current_app.config["SECRET_KEY"]
    reply_to, note_to = (agent_reply_address(sender, ticket_id, agent_id, action, secret)
                         for action in ("reply", "note"))
    footer = _("Answer this mail to reply to the customer. To add an internal note instead, "
               "write to <%(address)s>. Only mail from your own address is accepted.",
               address=note_to)
    return f"{text.rstrip()}\n\n-- \n{footer}\n", reply_to


_DELIVERY_BATCH = "channels.email.send.batch"


@contextmanager
def delivery_batch() -> Iterator[None]:
    """Within this block, outbox mail from every transaction that commits is delivered by
    one :func:`deliver_batch` job queued at the end, over one SMTP connection, instead of a
    job (and a connection) per mail. For jobs that commit many small units of work, such as
    a batch of ingested mail and its acknowledgements. Mail whose transaction rolled back is
    never queued; mail of a job killed before the end is left "queued" for the sweep."""
    committed: list[int] = []
    db.session.info[_DELIVERY_BATCH] = committed
    try:
        yield
    finally:
        db.session.info.pop(_DELIVERY_BATCH, None)
        if committed:
            jobs.enqueue_now("channels.email.send.deliver_batch", committed, queue="outbound")


def _queue_delivery(outbox_id: int) -> None:
    committed: list[int] | None = db.session.info.get(_DELIVERY_BATCH)
    if committed is None:
        jobs.enqueue("channels.email.send.deliver", outbox_id, queue="outbound")
    else:
        after_commit(lambda: committed.append(outbox_id))


def _automatic_mail_in_last_hour(recipient: str) -> int:
    return db.session.scalar(
        select(func.count(OutboxEmail.id)).where(
            OutboxEmail.to == recipient, OutboxEmail.automatic,
            OutboxEmail.status != "suppressed",
            OutboxEmail.created_at >= utcnow() - timedelta(hours=1))) or 0


def _sender_address(ticket: Ticket) -> str:
    """Our address for mail about ``ticket``: the mailbox the customer wrote to, else the
    mailbox of the ticket's team, else the installation's support address."""
    # Ingest opens a ticket with that mailbox's address as its origin.
    if ticket.channel == "email" and ticket.origin in mailbox_addresses():
        return str(ticket.origin)
    # The first message's source_ref names its raw email; it is set before the
    # acknowledgement is sent, unlike RawEmail.ticket_id.
    source = db.session.scalar(
        select(Message.source_ref)
        .where(Message.ticket_id == ticket.id, Message.source_ref.startswith(SOURCE_PREFIX))
        .order_by(Message.id).limit(1))
    raw_email_id = raw_email_id_of(source) if source else None
    address = db.session.scalar(
        select(Mailbox.address).join(RawEmail, RawEmail.mailbox_id == Mailbox.id)
        .where(RawEmail.id == raw_email_id)) if raw_email_id else None
    if address is not None:
        return address
    if ticket.team_id is not None:
        address = db.session.scalar(
            select(Mailbox.address).where(Mailbox.team_id == ticket.team_id, Mailbox.active)
            .order_by(Mailbox.id).limit(1))
    return address or str(current_app.config["SUPPORT_ADDRESS"])


def _thread_headers(ticket: Ticket) -> tuple[str | None, list[str]]:
    """In-Reply-To and References for new mail on ``ticket`` (RFC 5322 §3.6.4).

    References: the conversation as the customer's client holds it, oldest first (the
    ticket's public messages and our automatic mail). In-Reply-To: the customer's latest
    message, which is what an agent answers; failing that, the latest mail in the thread.
    """
    rows = db.session.execute(_THREAD, {"ticket_id": ticket.id}).all()
    # A stable sort: on equal times the ticket's messages come first, each kind in id order.
    thread = sorted([(created_at, message_id) for created_at, message_id, _ in rows],
                    key=lambda row: row[0])
    references = list(dict.fromkeys(message_id for _, message_id in thread if message_id))
    from_customer = [message_id for _, message_id, kind in rows if kind == "customer"]
    in_reply_to = from_customer[-1] if from_customer else (references[-1] if references else None)
    return in_reply_to, references


#: The kind given to our sent mail in :data:`_THREAD` (messages have their own kinds).
_SENT = "outbox"


def _thread_query() -> Select[datetime, str | None, str]:
    """The ticket's public messages with a Message-ID, then our sent mail, each in order:
    one statement (built once) instead of two."""
    ticket_id: BindParameter[int] = bindparam("ticket_id")
    messages = (select(Message.created_at, Message.rfc_message_id, Message.kind,
                       literal(0).label("part"), Message.id)
                .where(Message.ticket_id == ticket_id, Message.kind != "note",
                       Message.rfc_message_id.is_not(None)))
    sent = (select(OutboxEmail.created_at, OutboxEmail.message_id, literal(_SENT),
                   literal(1), OutboxEmail.id)
            .where(OutboxEmail.ticket_id == ticket_id))
    both = union_all(messages, sent).subquery()
    return (select(both.c.created_at, both.c.rfc_message_id, both.c.kind)
            .order_by(both.c.part, both.c.id))


_THREAD = _thread_query()


def _attachments(attachment_ids: Sequence[int]) -> list[OutgoingAttachment]:
    if not attachment_ids:
        return []
    rows = db.session.scalars(
        select(Attachment).where(Attachment.id.in_(attachment_ids)).order_by(Attachment.id))
    return [OutgoingAttachment(row.filename, row.content_type,
                               storage.path_of(row.storage_name).read_bytes()) for row in rows]


def deliver(outbox_id: int) -> None:
    """Job: hand one outbox email to the SMTP server and mark it sent; see
    :func:`deliver_batch`."""
    deliver_batch([outbox_id])


def deliver_batch(outbox_ids: Sequence[int]) -> None:
    """Job: hand outbox emails to the SMTP server over one connection, each marked sent and
    committed on its own.

    Idempotent: a row already sent (or suppressed) is skipped, and on PostgreSQL a row
    another worker is delivering right now is skipped too (the sweep may queue a mail whose
    first job is still waiting). On an SMTP or network error the attempt is recorded on the
    row with the time of its next attempt (exponential backoff with jitter, for the sweep in
    ``tasks.py``), the connection is dropped and the next row gets a fresh one. After the
    last row the first such error is re-raised, so the job runner retries the batch (rows
    already sent are skipped) and records a JobFailure when its retries run out.
    (At-least-once: if the server accepted a mail but its "sent" mark is lost, the retry
    sends it again.)
    """
    errors: list[smtplib.SMTPException | OSError] = []
    with _SmtpConnection() as connection:
        for outbox_id in outbox_ids:
            outbox = db.session.scalar(
                select(OutboxEmail).where(OutboxEmail.id == outbox_id,
                                          OutboxEmail.status.in_(("queued", "failed")))
                .with_for_update(skip_locked=True))
            if outbox is None:
                continue
            outbox.attempts += 1
            try:
                connection.send(outbox.mail_from, [outbox.to, *(outbox.cc or ())], outbox.raw)
            except (smtplib.SMTPException, OSError) as error:
                connection.drop()
                outbox.status = "failed"
                outbox.last_error = f"{type(error).__name__}: {error}"[:2000]
                outbox.next_attempt_at = utcnow() + retry_delay(outbox.attempts)
                errors.append(error)
            else:
                outbox.status = "sent"
                outbox.sent_at = utcnow()
                outbox.last_error = None
                outbox.next_attempt_at = None
            # Per row: a later failure (or the runner's rollback before a retry) must not
            # undo the record of a mail already handed over, and admins see why one is late.
            db.session.commit()
    if errors:
        raise errors[0]


def retry_delay(attempts: int) -> timedelta:
    """Backoff after ``attempts`` failed deliveries: 1, 2, 4 ... minutes up to 6 hours, with
    jitter so mail that failed together (an SMTP outage) is not retried in one burst."""
    base = min(RETRY_BASE_SECONDS * 2 ** (attempts - 1), RETRY_MAX_SECONDS)
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


class _SmtpConnection:
    """One SMTP session opened on first use and reopened after :meth:`drop`."""

    def __init__(self) -> None:
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> _SmtpConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def send(self, mail_from: str, recipients: Sequence[str], raw: bytes) -> None:
        if self._smtp is None:
            self._smtp = _smtp_connect()
        self._smtp.sendmail(mail_from, list(recipients), raw)

    def drop(self) -> None:
        """Forget the session after an error: its state is unknown."""
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None


def _smtp_connect() -> smtplib.SMTP:
    config = current_app.config
    smtp = smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=SMTP_TIMEOUT_SECONDS)
    try:
        if config["SMTP_STARTTLS"]:
            smtp.starttls(context=ssl.create_default_context())
        if config["SMTP_USERNAME"]:
            smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"] or "")
    except BaseException:
        smtp.close()
        raise
    return smtp
