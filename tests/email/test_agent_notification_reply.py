"""An agent answers a notification mail: through the signed agent address it carries, from
their own address only, as their reply to the customer (or, at the note address, a note)."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import select

from channels.email.models import Mailbox, RawEmail
from channels.email.poller import poll_mailbox
from channels.email.threading import agent_token_from_address
from helpdesk.auth.models import Agent
from helpdesk.auth.operations import create_agent
from helpdesk.db import db
from helpdesk.notifications.operations import NewNotification, notify_agents
from helpdesk.tickets.models import Ticket
from tests.conftest import PASSWORD
from tests.email.conftest import ImapAccount, customer_mail
from tests.services import ReceivedMessage, SmtpSink

AGENT = "li.wei@helpdesk.test"
CUSTOMER = "alice@customer.test"


@pytest.fixture
def ticket(app: Flask, mailbox: Mailbox, imap: ImapAccount, smtp_sink: SmtpSink) -> Ticket:
    imap.deliver(customer_mail(sender=f"Alice <{CUSTOMER}>"))
    poll_mailbox(mailbox.id)
    smtp_sink.wait_for(1)  # the acknowledgement
    smtp_sink.clear()
    return db.session.scalars(select(Ticket)).one()


@pytest.fixture
def notified_agent(app: Flask) -> Agent:
    agent = create_agent(email=AGENT, name="Li Wei", password=PASSWORD)
    db.session.commit()
    return agent


def _notification_mail(agent: Agent, ticket: Ticket, smtp_sink: SmtpSink) -> ReceivedMessage:
    notify_agents([NewNotification(agent.id, ticket.id, "sla-warning", "First reply due soon")])
    db.session.commit()  # the mail job runs after this commit
    [notification] = smtp_sink.wait_for(1)
    smtp_sink.clear()
    return notification


def _answer(notification: ReceivedMessage, *, sender: str, to: str | None = None,
            body: str = "Your refund is on its way.") -> bytes:
    mail = notification.message
    return customer_mail(sender=sender, to=to or str(mail["Reply-To"]),
                         subject=f"Re: {mail['Subject']}", in_reply_to=str(mail["Message-ID"]),
                         body=f"{body}\n\nOn Mon, Helpdesk wrote:\n> First reply due soon")


def _text(received: ReceivedMessage) -> str:
    body = received.message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_notification_mail_is_answerable_by_its_agent(
        app: Flask, ticket: Ticket, notified_agent: Agent, smtp_sink: SmtpSink) -> None:
    notification = _notification_mail(notified_agent, ticket, smtp_sink)

    secret = app.config["SECRET_KEY"]
    assert notification.rcpt_tos == (AGENT,)
    token = agent_token_from_address(str(notification.message["Reply-To"]), secret)
    assert token is not None
    assert (token.ticket_id, token.agent_id, token.action) == (ticket.id, notified_agent.id,
                                                               "reply")
    note_address = re.search(r"write to <([^<>\s]+@[^<>\s]+)>", _text(notification))
    assert note_address is not None
    note_token = agent_token_from_address(note_address[1], secret)
    assert note_token is not None and note_token.action == "note"


def test_agents_answer_to_a_notification_is_mailed_to_the_customer(
        app: Flask, ticket: Ticket, notified_agent: Agent, mailbox: Mailbox,
        imap: ImapAccount, smtp_sink: SmtpSink) -> None:
    notification = _notification_mail(notified_agent, ticket, smtp_sink)

    imap.deliver(_answer(notification, sender=f"Li Wei <{AGENT}>"))
    poll_mailbox(mailbox.id)

    [reply] = smtp_sink.wait_for(1)
    assert reply.rcpt_tos == (CUSTOMER,)
    assert _text(reply).strip() == "Your refund is on its way."
    db.session.expire_all()
    last = ticket.messages[-1]
    assert (last.kind, last.author_agent_id) == ("reply", notified_agent.id)


def test_answer_at_the_note_address_becomes_an_internal_note(
        app: Flask, ticket: Ticket, notified_agent: Agent, mailbox: Mailbox,
        imap: ImapAccount, smtp_sink: SmtpSink) -> None:
    notification = _notification_mail(notified_agent, ticket, smtp_sink)
    note_address = re.search(r"write to <([^<>\s]+@[^<>\s]+)>", _text(notification))
    assert note_address is not None

    imap.deliver(_answer(notification, sender=AGENT, to=note_address[1],
                         body="Customer is on the VIP list."))
    poll_mailbox(mailbox.id)

    db.session.expire_all()
    last = ticket.messages[-1]
    assert (last.kind, last.author_agent_id, last.body_text) == (
        "note", notified_agent.id, "Customer is on the VIP list.")
    assert smtp_sink.messages == []


def test_the_same_answer_from_another_address_is_quarantined(
        app: Flask, ticket: Ticket, notified_agent: Agent, mailbox: Mailbox,
        imap: ImapAccount, smtp_sink: SmtpSink) -> None:
    notification = _notification_mail(notified_agent, ticket, smtp_sink)

    imap.deliver(_answer(notification, sender="mallory@evil.test"))
    poll_mailbox(mailbox.id)

    raw = db.session.scalars(select(RawEmail).order_by(RawEmail.id.desc())).first()
    assert raw is not None and raw.status == "quarantined"
    assert "used by mallory@evil.test" in (raw.error or "")
    db.session.expire_all()
    assert [message.kind for message in ticket.messages] == ["customer"]
    assert smtp_sink.messages == []
