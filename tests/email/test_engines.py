"""The email channel's tables and queries on SQLite and PostgreSQL alike."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from channels.email.models import Mailbox, RawEmail
from channels.email.poller import poll_mailbox
from helpdesk.auth.operations import create_agent
from helpdesk.db import db
from helpdesk.tickets.models import Message, Ticket
from helpdesk.tickets.operations import reply_to_customer
from tests.conftest import PASSWORD
from tests.email.conftest import ImapAccount, customer_mail, make_mailbox
from tests.services import SmtpSink


def test_mail_round_trip(any_db_app: Flask, imap: ImapAccount, smtp_sink: SmtpSink) -> None:
    mailbox = make_mailbox(imap)
    first = imap.deliver(customer_mail(message_id="<q@customer.test>", body="你好，订单呢？"))
    imap.deliver(b"\x01 junk")
    poll_mailbox(mailbox.id)
    ack = smtp_sink.wait_for(1)[0].message
    agent = create_agent(email="agent@helpdesk.test", name="Li Wei", password=PASSWORD)
    ticket = db.session.scalars(select(Ticket)).one()
    reply_to_customer(agent.as_actor(), agent, ticket, body_text="今天发货。")
    db.session.commit()
    imap.deliver(customer_mail(subject="Re: shipping", body="谢谢", to=ack["Reply-To"]))
    poll_mailbox(mailbox.id)

    assert [message.body_text for message in db.session.scalars(
        select(Message).order_by(Message.id))] == ["你好，订单呢？", "今天发货。", "谢谢"]
    assert [raw.status for raw in db.session.scalars(select(RawEmail).order_by(RawEmail.id))] \
        == ["ingested", "quarantined", "ingested"]
    stored = db.session.get(Mailbox, mailbox.id)
    assert stored is not None and stored.last_uid == (first or 0) + 2
    assert len(smtp_sink.wait_for(2)) == 2
