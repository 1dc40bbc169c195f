"""The outbox: crash recovery by the sweep, backoff, the automatic-mail limit, and no
ping-pong with an auto-responder."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from email.utils import make_msgid
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import select

from channels.email.models import Mailbox, OutboxEmail
from channels.email.poller import poll_mailbox
from channels.email.tasks import resume_outbox
from helpdesk.actors import SYSTEM
from helpdesk.customers.operations import find_or_create_customer
from helpdesk.db import db, utcnow
from helpdesk.tickets.models import Message, Ticket
from helpdesk.tickets.operations import open_ticket
from tests.email.conftest import SUPPORT, ImapAccount, customer_mail
from tests.services import SmtpSink, free_port


def _outbox() -> list[OutboxEmail]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxEmail).order_by(OutboxEmail.id)))


def _web_ticket(email: str = "alice@customer.test") -> Ticket:
    customer = find_or_create_customer(email, "Alice")
    return open_ticket(SYSTEM, customer=customer, subject="Broken zip", body_text="Help",
                       channel="web", acknowledge=True)


def _commit_then_crash() -> None:
    """Commit, but die before the after-commit hooks queue the delivery job."""
    db.session().info.clear()
    db.session.commit()


def test_mail_left_queued_by_a_crash_is_sent_by_the_sweep_exactly_once(
        app: Flask, smtp_sink: SmtpSink) -> None:
    app.config["MAIL_SWEEP_AFTER_SECONDS"] = 0
    _web_ticket()
    _commit_then_crash()
    assert [row.status for row in _outbox()] == ["queued"]

    assert resume_outbox() == 1
    db.session.commit()
    assert resume_outbox() == 0
    db.session.commit()

    assert len(smtp_sink.wait_for(1)) == 1
    assert [row.status for row in _outbox()] == ["sent"]


def test_the_sweep_leaves_recently_queued_mail_to_its_own_job(app: Flask) -> None:
    _web_ticket()
    _commit_then_crash()
    assert resume_outbox() == 0  # MAIL_SWEEP_AFTER_SECONDS (300) have not passed


def test_failed_delivery_waits_for_its_backoff_then_the_sweep_sends_it(
        app: Flask, smtp_sink: SmtpSink) -> None:
    working_port = app.config["SMTP_PORT"]
    app.config["SMTP_PORT"] = free_port()  # nothing listens there
    _web_ticket()
    with pytest.raises(ConnectionRefusedError):
        db.session.commit()
    db.session.remove()
    [failed] = _outbox()
    assert failed.status == "failed" and failed.next_attempt_at is not None
    assert failed.next_attempt_at > utcnow()
    assert resume_outbox() == 0

    app.config["SMTP_PORT"] = working_port
    failed.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert resume_outbox() == 1
    db.session.commit()

    assert len(smtp_sink.wait_for(1)) == 1
    assert [(row.status, row.attempts) for row in _outbox()] == [("sent", 2)]


def test_automatic_mail_over_the_hourly_limit_is_kept_as_suppressed_not_sent(
        app: Flask, smtp_sink: SmtpSink) -> None:
    app.config["MAIL_AUTOMATIC_PER_HOUR"] = 2
    for _ in range(3):
        _web_ticket()
        db.session.commit()
    _web_ticket(email="bob@customer.test")
    db.session.commit()

    rows = _outbox()
    assert [(row.to, row.status) for row in rows] == [
        ("alice@customer.test", "sent"), ("alice@customer.test", "sent"),
        ("alice@customer.test", "suppressed"), ("bob@customer.test", "sent")]
    assert rows[2].last_error is not None and "limit" in rows[2].last_error
    assert len(smtp_sink.messages) == 3


class AutoResponder:
    """The customer's mail server with an out-of-office responder that answers everything,
    our automatic mail included, by delivering its answer into our IMAP inbox."""

    def __init__(self, inbox: ImapAccount, marked: bool) -> None:
        self.inbox = inbox
        self.marked = marked
        self.received: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        incoming = BytesParser(policy=default).parsebytes(envelope.content)
        assert isinstance(incoming, EmailMessage)
        self.received.append(incoming)
        headers = [("Auto-Submitted", "auto-replied")] if self.marked else []
        self.inbox.deliver(customer_mail(
            subject=f"Re: {incoming['Subject']}", body="I am away until Monday.",
            to=str(incoming["Reply-To"] or SUPPORT), in_reply_to=str(incoming["Message-ID"]),
            message_id=make_msgid(domain="customer.test"), extra_headers=headers))
        return "250 OK"


@pytest.fixture(params=["rfc3834-marked", "unmarked"])
def responder(request: pytest.FixtureRequest, app: Flask,
              imap: ImapAccount) -> Iterator[AutoResponder]:
    handler = AutoResponder(imap, marked=request.param == "rfc3834-marked")
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port)
    try:
        yield handler
    finally:
        controller.stop()


def test_acknowledgement_and_an_auto_responder_stop_after_one_exchange(
        app: Flask, mailbox: Mailbox, imap: ImapAccount, responder: AutoResponder) -> None:
    imap.deliver(customer_mail(subject="Invoice question"))

    for _round in range(4):  # a loop would add a mail each way on every round
        poll_mailbox(mailbox.id)

    assert len(responder.received) == 1  # our one acknowledgement
    assert responder.received[0]["Auto-Submitted"] == "auto-replied"
    [ticket] = db.session.scalars(select(Ticket)).all()
    messages = db.session.scalars(select(Message).where(Message.ticket_id == ticket.id)).all()
    assert len(messages) == 2  # the question, then the out-of-office on the same ticket
    assert [row.status for row in _outbox()] == ["sent"]
