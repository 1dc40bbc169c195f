"""Ticket operations on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from helpdesk.actors import SYSTEM
from helpdesk.auth.operations import create_agent
from helpdesk.customers.operations import find_or_create_customer
from helpdesk.db import db
from helpdesk.teams.operations import create_team
from helpdesk.tickets.models import TicketEvent
from helpdesk.tickets.operations import (
    InvalidChange,
    NewAttachment,
    add_customer_message,
    add_internal_note,
    open_ticket,
    reply_to_customer,
    update_ticket,
)
from helpdesk.tickets.queries import queue_page, ticket_history
from tests.conftest import PASSWORD


def _open(subject="Printer on fire", priority="normal", **kwargs):
    customer = find_or_create_customer("Alice@Example.com", "Alice")
    return open_ticket(
        SYSTEM,
        customer=customer,
        subject=subject,
        body_text="Help",
        channel="web",
        priority=priority,
        **kwargs,
    )


def _events(ticket):
    return [(e.kind, e.old_value, e.new_value) for e in ticket_history(ticket)]


def test_new_ticket_gets_deadlines_from_the_policy_of_its_priority(any_db_app):
    ticket = _open(priority="urgent")
    db.session.commit()
    assert ticket.sla_policy_name == "Standard"
    assert ticket.first_reply_due - ticket.created_at == timedelta(hours=1)
    assert ticket.resolution_due - ticket.created_at == timedelta(hours=8)
    assert ("created", None, "web") in _events(ticket)


def test_customers_are_matched_by_email_case_insensitively(any_db_app):
    first = find_or_create_customer("Alice@Example.com", "Alice")
    second = find_or_create_customer("alice@example.COM ", "Someone Else")
    assert first.id == second.id
    assert second.name == "Alice"


def test_priority_change_recomputes_deadlines_and_is_recorded(any_db_app):
    ticket = _open(priority="low")
    update_ticket(SYSTEM, ticket, priority="urgent")
    db.session.commit()
    assert ticket.first_reply_due - ticket.created_at == timedelta(hours=1)
    assert ("priority", "low", "urgent") in _events(ticket)


def test_first_agent_reply_meets_first_reply_and_opens_the_ticket(any_db_app, smtp_sink):
    agent = create_agent(email="a@example.com", name="Agent A", password=PASSWORD)
    ticket = _open()
    reply_to_customer(agent.as_actor(), agent, ticket, body_text="On it.")
    db.session.commit()
    assert ticket.first_replied_at is not None
    assert ticket.status == "open"
    assert ("reply", None, None) in _events(ticket)


def test_internal_note_is_not_mailed_to_the_customer(any_db_app, smtp_sink):
    agent = create_agent(email="a@example.com", name="Agent A", password=PASSWORD)
    ticket = _open()
    db.session.commit()
    before = len(smtp_sink.messages)
    add_internal_note(agent.as_actor(), agent, ticket, body_text="Customer is on the old plan")
    db.session.commit()
    assert ticket.messages[-1].kind == "note"
    assert len(smtp_sink.messages) == before


def test_customer_message_reopens_a_solved_ticket(any_db_app):
    ticket = _open()
    update_ticket(SYSTEM, ticket, status="solved")
    assert ticket.solved_at is not None
    add_customer_message(
        ticket.customer.as_actor(), ticket, body_text="Still broken", channel="email"
    )
    db.session.commit()
    assert ticket.status == "open"
    assert ticket.solved_at is None
    assert ("status", "solved", "open") in _events(ticket)


def test_every_property_change_is_in_the_history(any_db_app):
    team = create_team("Billing")
    agent = create_agent(email="a@example.com", name="Agent A", password=PASSWORD)
    ticket = _open()
    update_ticket(agent.as_actor(), ticket, status="pending", team=team, assignee=agent)
    db.session.commit()
    events = db.session.scalars(
        select(TicketEvent).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.actor_id == agent.id
        )
    )
    assert {(e.kind, e.new_value) for e in events} == {
        ("status", "pending"),
        ("team", "Billing"),
        ("assignee", "Agent A"),
    }


def test_unknown_status_is_refused(any_db_app):
    ticket = _open()
    with pytest.raises(InvalidChange):
        update_ticket(SYSTEM, ticket, status="archived")


def test_attachments_are_stored_under_random_names(any_db_app):
    ticket = _open(attachments=[NewAttachment("报价单.pdf", "application/pdf", b"%PDF-1.4")])
    db.session.commit()
    attachment = ticket.messages[0].attachments[0]
    assert attachment.filename == "报价单.pdf"
    assert attachment.storage_name != attachment.filename
    assert len(attachment.storage_name) == 32 and attachment.size == 8


def test_queue_pages_cover_every_ticket_once_in_update_order(any_db_app):
    admin = create_agent(email="admin@example.com", name="Admin", password=PASSWORD, role="admin")
    opened = [_open(subject=f"Ticket {n}") for n in range(7)]
    db.session.commit()
    seen, cursor = [], None
    while True:
        page = queue_page(admin, "all", after=cursor, page_size=3)
        seen.extend(t.id for t in page.tickets)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(t.id for t in opened)
    assert len(seen) == len(set(seen))
