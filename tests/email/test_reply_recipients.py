"""Who an agent's reply goes to: the requester with the ticket's participants on Cc, never our
own addresses nor addresses that bounced; and a CC'd colleague's answer threads back."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from channels.email.models import Mailbox, OutboxEmail, UndeliverableAddress
from channels.email.poller import poll_mailbox
from helpdesk.actors import SYSTEM
from helpdesk.auth.models import Agent
from helpdesk.customers.operations import find_or_create_customer
from helpdesk.db import db
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.operations import add_participant, open_ticket, reply_to_customer
from tests.conftest import app_with_schema, login
from tests.email.conftest import SUPPORT, ImapAccount, customer_mail
from tests.services import SmtpSink

REQUESTER = "alice@customer.test"
COLLEAGUE = "bob@customer.test"


def _ticket_with_participants(*addresses: str) -> Ticket:
    ticket = open_ticket(SYSTEM, customer=find_or_create_customer(REQUESTER, "Alice"),
                         subject="Broken zip", body_text="Help", channel="web",
                         acknowledge=False)
    for address in addresses:
        add_participant(SYSTEM, ticket, find_or_create_customer(address))
    db.session.commit()
    return ticket


def _copied(mail: EmailMessage) -> list[str]:
    return [address for _, address in getaddresses(mail.get_all("Cc", []))]


def test_agent_reply_copies_the_tickets_participants(
        app: Flask, smtp_sink: SmtpSink, agent: Agent) -> None:
    ticket = _ticket_with_participants(COLLEAGUE, "carol@partner.test")

    reply_to_customer(agent.as_actor(), agent, ticket, body_text="It ships today.")
    db.session.commit()

    [received] = smtp_sink.wait_for(1)
    assert received.message["To"] == REQUESTER
    assert _copied(received.message) == [COLLEAGUE, "carol@partner.test"]
    assert sorted(received.rcpt_tos) == sorted([REQUESTER, COLLEAGUE, "carol@partner.test"])


def test_reply_never_copies_our_own_or_undeliverable_addresses(
        app: Flask, smtp_sink: SmtpSink, agent: Agent, mailbox: Mailbox) -> None:
    # A customer who CC'd our other address (plus-tagged) and one whose address bounced.
    ticket = _ticket_with_participants("support+sales@helpdesk.test", "support@example.com",
                                       "gone@customer.test", COLLEAGUE)
    db.session.add(UndeliverableAddress(address="gone@customer.test", reason="bounced"))
    db.session.commit()

    reply_to_customer(agent.as_actor(), agent, ticket, body_text="Done.")
    db.session.commit()

    [received] = smtp_sink.wait_for(1)
    assert _copied(received.message) == [COLLEAGUE]
    assert sorted(received.rcpt_tos) == [REQUESTER, COLLEAGUE]
    outbox = db.session.scalars(select(OutboxEmail)).one()
    assert (outbox.to, outbox.cc) == (REQUESTER, [COLLEAGUE])


def test_automatic_mail_goes_to_the_requester_alone(
        app: Flask, smtp_sink: SmtpSink) -> None:
    customer = find_or_create_customer(REQUESTER, "Alice")
    ticket = open_ticket(SYSTEM, customer=customer, subject="Hi", body_text="x",
                         channel="web", acknowledge=False)
    add_participant(SYSTEM, ticket, find_or_create_customer(COLLEAGUE))
    db.session.commit()
    ticket = open_ticket(SYSTEM, customer=customer, subject="Again", body_text="x",
                         channel="web", acknowledge=True)
    add_participant(SYSTEM, ticket, find_or_create_customer(COLLEAGUE))
    db.session.commit()

    [acknowledgement] = smtp_sink.wait_for(1)
    assert acknowledgement.rcpt_tos == (REQUESTER,)
    assert acknowledgement.message["Cc"] is None


@pytest.fixture
def app_without_cc_participants(tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[Flask]:
    with app_with_schema(f"sqlite:///{tmp_path / 'helpdesk.sqlite'}", tmp_path, smtp_sink,
                         MAIL_CC_PARTICIPANTS=False) as app:
        yield app


def test_with_cc_participants_off_replies_go_to_the_requester_only(
        app_without_cc_participants: Flask, smtp_sink: SmtpSink) -> None:
    from helpdesk.auth.operations import create_agent

    agent = create_agent(email="agent@example.com", name="Li Wei", password="x" * 12)
    ticket = _ticket_with_participants(COLLEAGUE)

    reply_to_customer(agent.as_actor(), agent, ticket, body_text="Done.")
    db.session.commit()

    [received] = smtp_sink.wait_for(1)
    assert received.rcpt_tos == (REQUESTER,)
    assert received.message["Cc"] is None


def test_reply_form_shows_who_will_receive_the_reply(
        client: FlaskClient, agent: Agent) -> None:
    ticket = _ticket_with_participants(COLLEAGUE)
    login(client, agent.email)

    page = client.get(f"/console/tickets/{ticket.id}").text

    assert f'<span class="reply-to">{REQUESTER}</span>' in page
    assert f'<span class="reply-cc">{COLLEAGUE}</span>' in page


def test_cc_colleague_receives_the_reply_and_their_answer_threads_onto_the_ticket(
        app: Flask, mailbox: Mailbox, imap: ImapAccount, smtp_sink: SmtpSink,
        agent: Agent) -> None:
    imap.deliver(customer_mail(
        sender=f"Alice <{REQUESTER}>", to=SUPPORT, message_id="<q1@customer.test>",
        extra_headers=[("Cc", f"Bob <{COLLEAGUE}>")]))
    poll_mailbox(mailbox.id)
    smtp_sink.wait_for(1)  # the acknowledgement
    smtp_sink.clear()
    ticket = db.session.scalars(select(Ticket)).one()

    reply_to_customer(agent.as_actor(), agent, ticket, body_text="We are on it.")
    db.session.commit()

    [reply] = smtp_sink.wait_for(1)
    assert _copied(reply.message) == [COLLEAGUE]
    assert COLLEAGUE in reply.rcpt_tos and REQUESTER in reply.rcpt_tos
    # Bob answers from his client: to our tokenised Reply-To, quoting our Message-ID.
    imap.deliver(customer_mail(
        sender=f"Bob <{COLLEAGUE}>", to=str(reply.message["Reply-To"]),
        subject=f"Re: {reply.message['Subject']}", body="Thanks, that fixed it.",
        in_reply_to=str(reply.message["Message-ID"])))
    poll_mailbox(mailbox.id)

    db.session.expire_all()
    assert db.session.scalars(select(Ticket)).all() == [ticket]
    last = ticket.messages[-1]
    assert (last.kind, last.author_customer.email, last.body_text) == (
        "customer", COLLEAGUE, "Thanks, that fixed it.")
