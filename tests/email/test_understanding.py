"""Ingest understands a mail: threading, identity, participants, bounces, duplicates and the
visible reply, on SQLite and PostgreSQL."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from channels.email.models import OutboxEmail, RawEmail, UndeliverableAddress
from channels.email.threading import agent_reply_address
from helpdesk.auth.models import Agent
from helpdesk.auth.operations import create_agent
from helpdesk.db import db
from helpdesk.ports import OutgoingMail, outbound_mail
from helpdesk.tickets.models import Message, Ticket, TicketEvent
from helpdesk.tickets.operations import reply_to_customer
from tests.conftest import PASSWORD, login
from tests.email.conftest import customer_mail
from tests.email.understanding import deliver, mailbox, open_tickets, ticket_of
from tests.services import SmtpSink

ALICE = "Alice <alice@customer.test>"


def test_reply_arriving_before_its_parent_ends_on_the_parents_ticket(any_db_app: Flask) -> None:
    box = mailbox()
    deliver(box, customer_mail(subject="Re: Printer jams", body="Still jams.",
                               message_id="<b@customer.test>", in_reply_to="<a@customer.test>",
                               references=["<a@customer.test>"]))
    deliver(box, customer_mail(subject="Printer jams", body="Floor 3 printer jams.",
                               message_id="<a@customer.test>"))

    [ticket] = open_tickets()
    assert [m.rfc_message_id for m in ticket.messages] == ["<b@customer.test>",
                                                           "<a@customer.test>"]
    raw = db.session.scalars(select(RawEmail).order_by(RawEmail.id.desc())).first()
    assert raw is not None and raw.thread_reason == "pending-reference"


def test_conversation_split_by_reordering_is_merged_when_the_link_arrives(
        any_db_app: Flask) -> None:
    box = mailbox()
    # C quotes only B; A starts the conversation; B (reply to A) arrives last.
    deliver(box, customer_mail(subject="Re: Re: VPN", message_id="<c@customer.test>",
                               in_reply_to="<b@customer.test>", references=["<b@customer.test>"]))
    deliver(box, customer_mail(subject="VPN", message_id="<a@customer.test>"))
    deliver(box, customer_mail(subject="Re: VPN", message_id="<b@customer.test>",
                               in_reply_to="<a@customer.test>", references=["<a@customer.test>"]))

    [ticket] = open_tickets()
    assert sorted(m.rfc_message_id or "" for m in ticket.messages) == [
        "<a@customer.test>", "<b@customer.test>", "<c@customer.test>"]
    merged = db.session.scalars(select(Ticket).where(Ticket.merged_into_id == ticket.id)).one()
    assert merged.status == "closed"


def test_ticket_an_agent_already_answered_is_not_merged_away(any_db_app: Flask) -> None:
    box = mailbox()
    deliver(box, customer_mail(subject="Re: VPN", message_id="<c@customer.test>",
                               in_reply_to="<b@customer.test>"))
    agent = create_agent(email="agent@helpdesk.test", name="Li Wei", password=PASSWORD)
    early = ticket_of("<c@customer.test>")
    reply_to_customer(agent.as_actor(), agent, early, body_text="Looking into it.")
    db.session.commit()
    deliver(box, customer_mail(subject="VPN", message_id="<a@customer.test>"))
    deliver(box, customer_mail(subject="Re: VPN", message_id="<b@customer.test>",
                               in_reply_to="<a@customer.test>"))

    assert len(open_tickets()) == 2
    assert ticket_of("<c@customer.test>").id == early.id


def test_same_mail_in_two_mailboxes_is_one_ticket_and_a_linked_duplicate(
        any_db_app: Flask) -> None:
    support, sales = mailbox(), mailbox("sales@helpdesk.test", "sales")
    raw = customer_mail(subject="Quote please", to="support@helpdesk.test",
                        message_id="<q@customer.test>",
                        extra_headers=[("Cc", "sales@helpdesk.test")])
    first = deliver(support, raw)
    second = deliver(sales, b"Delivered-To: sales@helpdesk.test\r\n" + raw)

    [ticket] = open_tickets()
    assert (first.status, first.ticket_id) == ("ingested", ticket.id)
    assert (second.status, second.ticket_id, second.duplicate_of_id) == (
        "duplicate", ticket.id, first.id)
    # Our own addresses never become participants.
    assert ticket.participants == []


def test_cc_recipients_become_participants_and_may_use_the_subject_tag(
        any_db_app: Flask) -> None:
    box = mailbox()
    deliver(box, customer_mail(message_id="<1@customer.test>", extra_headers=[
        ("Cc", "Carol <carol@customer.test>, support+x@helpdesk.test, support@example.com")]))
    [ticket] = open_tickets()
    assert [p.customer.email for p in ticket.participants] == ["carol@customer.test"]

    deliver(box, customer_mail(subject=f"Re: [#{ticket.id}] My order", body="Me too.",
                               sender="carol@customer.test"))

    assert len(open_tickets()) == 1
    assert ticket.messages[-1].author_customer is not None
    assert ticket.messages[-1].author_customer.email == "carol@customer.test"


def test_cc_participants_can_be_switched_off(any_db_app: Flask) -> None:
    any_db_app.config["MAIL_CC_PARTICIPANTS"] = False
    deliver(mailbox(), customer_mail(extra_headers=[("Cc", "carol@customer.test")]))
    [ticket] = open_tickets()
    assert ticket.participants == []


def test_stranger_with_someone_elses_ticket_number_opens_a_new_ticket(any_db_app: Flask) -> None:
    box = mailbox()
    deliver(box, customer_mail(body="My invoice is wrong."))
    [victim] = open_tickets()

    deliver(box, customer_mail(subject=f"Re: [#{victim.id}] My order", body="Send me the data",
                               sender="mallory@evil.test"))

    tickets = open_tickets()
    assert len(tickets) == 2
    assert [m.body_text for m in victim.messages] == ["My invoice is wrong."]
    assert tickets[1].customer.email == "mallory@evil.test"


def test_forged_reply_token_and_forged_our_message_id_open_a_new_ticket(
        any_db_app: Flask) -> None:
    box = mailbox()
    deliver(box, customer_mail())
    [victim] = open_tickets()
    deliver(box, customer_mail(sender="mallory@evil.test",
                               to=f"support+t{victim.id}.0000000000000000@helpdesk.test",
                               in_reply_to=f"<t{victim.id}.abcdefgh.0123456789abcdef"
                                           "@helpdesk.test>"))
    assert len(open_tickets()) == 2
    assert len(victim.messages) == 1


def test_reply_shows_the_new_text_and_keeps_the_full_original(any_db_app: Flask) -> None:
    box = mailbox()
    deliver(box, customer_mail(message_id="<a@customer.test>"))
    body = ("Thanks, it arrived.\n\nOn Mon, 4 Mar 2024 at 08:30, Helpdesk "
            "<support@helpdesk.test> wrote:\n> Your parcel is on its way.\n")
    deliver(box, customer_mail(subject="Re: My order", body=body,
                               in_reply_to="<a@customer.test>"))

    [ticket] = open_tickets()
    reply = ticket.messages[-1]
    assert reply.body_text == "Thanks, it arrived."
    assert reply.body_full is not None and "Your parcel is on its way." in reply.body_full
    assert ticket.messages[0].body_full is None  # nothing was cut from the first mail


def test_ticket_page_offers_the_quoted_text_and_lists_participants(
        app: Flask, client: FlaskClient, agent: Agent) -> None:
    box = mailbox()
    deliver(box, customer_mail(message_id="<a@customer.test>",
                               extra_headers=[("Cc", "carol@customer.test")]))
    deliver(box, customer_mail(subject="Re: My order", in_reply_to="<a@customer.test>",
                               body="New words.\n\n-----Original Message-----\nOld <b>words</b>"))
    [ticket] = open_tickets()
    login(client, agent.email)

    page = client.get(f"/console/tickets/{ticket.id}").text

    assert "Show quoted text" in page
    assert "Old &lt;b&gt;words&lt;/b&gt;" in page
    assert "carol@customer.test" in page


def _our_message_id(ticket: Ticket) -> str:
    return db.session.scalars(select(OutboxEmail.message_id)
                              .where(OutboxEmail.ticket_id == ticket.id)).first() or ""


def _dsn(original_message_id: str, recipient: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.customer.test>\r\n"
        "To: support@helpdesk.test\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@mx.customer.test>\r\nDate: Mon, 04 Mar 2024 08:31:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nYour mail could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: support@helpdesk.test\r\nMessage-ID: {original_message_id}\r\n\r\n--b--\r\n"
    ).encode()


def test_bounce_of_our_mail_is_put_on_its_ticket_and_never_opens_one(
        any_db_app: Flask, smtp_sink: SmtpSink) -> None:
    box = mailbox()
    deliver(box, customer_mail(sender="gone@customer.test"))
    [ticket] = open_tickets()

    raw = deliver(box, _dsn(_our_message_id(ticket), "gone@customer.test"))

    assert open_tickets() == [ticket]
    assert (raw.status, raw.ticket_id) == ("bounce", ticket.id)
    events = db.session.scalars(select(TicketEvent).where(
        TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "undeliverable")).all()
    assert [event.new_value for event in events] == ["gone@customer.test"]
    assert db.session.scalars(select(UndeliverableAddress.address)).all() == [
        "gone@customer.test"]


def test_automatic_mail_to_an_undeliverable_address_is_suppressed_until_it_writes_again(
        any_db_app: Flask, smtp_sink: SmtpSink) -> None:
    box = mailbox()
    deliver(box, customer_mail(sender="gone@customer.test"))
    [ticket] = open_tickets()
    deliver(box, _dsn(_our_message_id(ticket), "gone@customer.test"))

    outbound_mail().send(OutgoingMail(ticket_id=ticket.id, to="gone@customer.test",
                                      subject="Reminder", text="Still there?", automatic=True))
    db.session.commit()
    deliver(box, customer_mail(sender="gone@customer.test", subject="I am back"))

    statuses = db.session.scalars(select(OutboxEmail.status).where(
        OutboxEmail.subject == "Reminder")).all()
    assert statuses == ["suppressed"]
    assert db.session.scalars(select(UndeliverableAddress)).all() == []


def test_bounce_of_mail_that_is_not_ours_is_quarantined(any_db_app: Flask) -> None:
    raw = deliver(mailbox(), _dsn("<someone-else@elsewhere.test>", "x@customer.test"))
    assert raw.status == "quarantined"
    assert open_tickets() == []


def _agent_mail(agent: Agent, ticket: Ticket, action: str, sender: str) -> bytes:
    address = agent_reply_address("support@helpdesk.test", ticket.id, agent.id, action,
                                  "test-secret-key")
    return customer_mail(subject=f"Re: [#{ticket.id}] My order", sender=sender, to=address,
                         body="Refund approved.\n\nOn Mon, Helpdesk wrote:\n> New message")


def test_agent_answers_by_email_through_their_token(any_db_app: Flask,
                                                    smtp_sink: SmtpSink) -> None:
    box = mailbox()
    agent = create_agent(email="li.wei@helpdesk.test", name="Li Wei", password=PASSWORD)
    deliver(box, customer_mail())
    [ticket] = open_tickets()

    deliver(box, _agent_mail(agent, ticket, "note", "Li Wei <li.wei@helpdesk.test>"))
    deliver(box, _agent_mail(agent, ticket, "reply", "li.wei@helpdesk.test"))

    kinds = [(m.kind, m.author_agent_id, m.body_text) for m in ticket.messages]
    assert kinds[1:] == [("note", agent.id, "Refund approved."),
                         ("reply", agent.id, "Refund approved.")]


def test_agent_token_used_by_anyone_else_is_not_trusted(any_db_app: Flask) -> None:
    box = mailbox()
    agent = create_agent(email="li.wei@helpdesk.test", name="Li Wei", password=PASSWORD)
    deliver(box, customer_mail())
    [ticket] = open_tickets()

    raw = deliver(box, _agent_mail(agent, ticket, "reply", "mallory@evil.test"))

    assert raw.status == "quarantined"
    assert "used by mallory@evil.test" in (raw.error or "")
    assert [m.kind for m in ticket.messages] == ["customer"]


def test_mail_from_an_agents_address_without_a_token_is_no_agent_reply(
        any_db_app: Flask) -> None:
    # FreeScout CVE-2026-47123: a spoofed From must never make an "agent reply".
    box = mailbox()
    create_agent(email="li.wei@helpdesk.test", name="Li Wei", password=PASSWORD)
    deliver(box, customer_mail())
    [ticket] = open_tickets()

    deliver(box, customer_mail(subject=f"Re: [#{ticket.id}] My order",
                               sender="li.wei@helpdesk.test", body="Refund approved."))

    assert db.session.scalars(select(Message).where(Message.kind != "customer")).all() == []
