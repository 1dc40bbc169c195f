"""Outbound mail end to end: core operations -> outbox row -> delivery job -> real SMTP sink."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from channels.email.models import Mailbox, OutboxEmail
from channels.email.poller import poll_mailbox
from channels.email.send import deliver
from channels.email.threading import ticket_from_address, ticket_from_message_id
from helpdesk.actors import SYSTEM
from helpdesk.auth.models import Agent
from helpdesk.customers.operations import find_or_create_customer
from helpdesk.db import db
from helpdesk.tickets.models import Message, Ticket
from helpdesk.tickets.operations import NewAttachment, open_ticket, reply_to_customer
from tests.email.conftest import ImapAccount, customer_mail
from tests.services import SmtpSink, free_port


def _outbox() -> list[OutboxEmail]:
    return list(db.session.scalars(select(OutboxEmail).order_by(OutboxEmail.id)))


def _web_ticket(acknowledge: bool = False) -> Ticket:
    customer = find_or_create_customer("alice@customer.test", "Alice")
    return open_ticket(SYSTEM, customer=customer, subject="Broken zip", body_text="Help",
                       channel="web", acknowledge=acknowledge)


def test_agent_reply_threads_onto_the_customers_message(
        app: Flask, mailbox: Mailbox, imap: ImapAccount, smtp_sink: SmtpSink,
        agent: Agent) -> None:
    imap.deliver(customer_mail(message_id="<question@customer.test>"))
    poll_mailbox(mailbox.id)
    [acknowledgement] = (received.message for received in smtp_sink.wait_for(1))
    smtp_sink.clear()
    ticket = db.session.scalars(select(Ticket)).one()

    reply = reply_to_customer(agent.as_actor(), agent, ticket, body_text="It ships today.")
    db.session.commit()

    [received] = smtp_sink.wait_for(1)
    mail = received.message
    assert received.rcpt_tos == ("alice@customer.test",)
    assert mail["In-Reply-To"] == "<question@customer.test>"
    # The whole thread as the customer's client holds it, acknowledgement included.
    assert mail["References"].split() == ["<question@customer.test>",
                                          acknowledgement["Message-ID"]]
    assert mail["Auto-Submitted"] is None
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None and text.get_content().strip() == "It ships today."
    secret, domain = app.config["SECRET_KEY"], app.config["MAIL_DOMAIN"]
    assert ticket_from_message_id(mail["Message-ID"], secret, domain) == ticket.id
    assert ticket_from_address(mail["Reply-To"], secret) == ticket.id
    stored = db.session.get(Message, reply.id)
    assert stored is not None and stored.rfc_message_id == mail["Message-ID"]
    [_, outbox] = _outbox()
    assert (outbox.status, outbox.attempts, outbox.message_id) == ("sent", 1, mail["Message-ID"])


def test_second_reply_references_the_whole_conversation(
        app: Flask, smtp_sink: SmtpSink, agent: Agent) -> None:
    ticket = _web_ticket()
    first = reply_to_customer(agent.as_actor(), agent, ticket, body_text="First")
    db.session.commit()
    reply_to_customer(agent.as_actor(), agent, ticket, body_text="Second")
    db.session.commit()

    _, second_mail = (received.message for received in smtp_sink.wait_for(2))
    assert second_mail["In-Reply-To"] == first.rfc_message_id
    assert second_mail["References"] == first.rfc_message_id


def test_reply_attachments_are_sent(app: Flask, smtp_sink: SmtpSink, agent: Agent) -> None:
    ticket = _web_ticket()
    reply_to_customer(agent.as_actor(), agent, ticket, body_text="Label attached",
                      attachments=[NewAttachment("label.pdf", "application/pdf", b"%PDF-1.4")])
    db.session.commit()

    [attachment] = smtp_sink.wait_for(1)[0].message.iter_attachments()
    assert (attachment.get_filename(), attachment.get_content()) == ("label.pdf", b"%PDF-1.4")


def test_rolled_back_reply_sends_nothing(app: Flask, smtp_sink: SmtpSink, agent: Agent) -> None:
    ticket = _web_ticket()
    db.session.commit()

    reply_to_customer(agent.as_actor(), agent, ticket, body_text="Never mind")
    db.session.rollback()

    assert _outbox() == []
    assert smtp_sink.messages == []


def test_smtp_failure_is_recorded_then_a_retry_sends_exactly_once(
        app: Flask, smtp_sink: SmtpSink) -> None:
    working_port = app.config["SMTP_PORT"]
    app.config["SMTP_PORT"] = free_port()  # nothing listens there
    _web_ticket(acknowledge=True)
    with pytest.raises(ConnectionRefusedError):
        db.session.commit()  # eager jobs: the delivery failure surfaces here
    db.session.remove()  # that commit was interrupted in its after-commit hooks

    [outbox] = _outbox()
    assert (outbox.status, outbox.attempts) == ("failed", 1)
    assert outbox.last_error is not None and "ConnectionRefusedError" in outbox.last_error

    app.config["SMTP_PORT"] = working_port
    deliver(outbox.id)
    db.session.commit()
    deliver(outbox.id)
    db.session.commit()

    assert len(smtp_sink.wait_for(1)) == 1
    db.session.refresh(outbox)
    assert (outbox.status, outbox.attempts, outbox.last_error) == ("sent", 2, None)
    assert outbox.sent_at is not None
