"""The statements a new ticket and a customer's follow-up cost, counted on the engine.

Counting statements is exact and engine-independent enough to assert: each table a mail
writes gets one statement, nothing just written is read back, and settings are read once
per batch.
"""

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import event, select

from helpdesk.actors import SYSTEM
from helpdesk.automation.operations import save_rule
from helpdesk.customers.operations import find_or_create_customer
from helpdesk.db import batch_cache, db
from helpdesk.sla.models import SlaClock
from helpdesk.tickets.models import Ticket, TicketEvent
from helpdesk.tickets.operations import add_customer_message, add_participant, open_ticket


@contextmanager
def counted_statements() -> Iterator[Counter[str]]:
    """Statements by verb and table (``"INSERT ticket"``, ``"SELECT sla_policy"``, ...)."""
    seen: Counter[str] = Counter()

    def count(conn, cursor, statement, parameters, context, executemany):
        verb = statement.split(None, 1)[0].upper()
        table = re.search(r"\b(?:INTO|UPDATE|FROM)\s+\"?(\w+)", statement)
        seen[f"{verb} {table.group(1) if table else '?'}"] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def _open(email: str) -> Ticket:
    customer = find_or_create_customer(email, "Customer")
    db.session.flush()
    return open_ticket(customer.as_actor(), customer=customer, subject="Printer on fire",
                       body_text="Please help", channel="email", acknowledge=False)


def test_opening_a_ticket_writes_its_row_once_with_sla_dues_set(any_db_app: Flask) -> None:
    with counted_statements() as seen:
        ticket = _open("a@example.com")
    assert seen["INSERT ticket"] == 1
    assert seen["UPDATE ticket"] == 0
    # History and clocks go in together: one multi-row statement each on PostgreSQL (SQLite
    # cannot return the new ids of a multi-row insert in order, so SQLAlchemy sends a row
    # at a time there); nothing is read back.
    rows_per_statement = 2 if db.engine.dialect.name == "postgresql" else 1
    assert seen["INSERT ticket_event"] == 2 // rows_per_statement
    assert seen["INSERT sla_clock"] == 2 // rows_per_statement
    assert not {"SELECT sla_clock", "SELECT sla_segment", "SELECT sla_ticket",
                "SELECT message", "SELECT ticket_participant"} & set(seen)
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(Ticket, ticket.id)
    assert stored is not None and stored.sla_policy_name == "Standard"
    assert stored.first_reply_due is not None and stored.resolution_due is not None
    kinds = db.session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id)
                               .order_by(TicketEvent.id)).all()
    assert kinds == ["created", "sla"]
    clocks = db.session.scalars(select(SlaClock).where(SlaClock.ticket_id == ticket.id)).all()
    assert sorted(c.kind for c in clocks) == ["first_reply", "resolution"]
    assert {c.due_at for c in clocks} == {stored.first_reply_due, stored.resolution_due}


def test_policies_rules_and_calendars_are_read_once_per_batch(any_db_app: Flask) -> None:
    save_rule(None, name="Web to the web team", enabled=True, on_created=True,
              on_updated=False, conditions=["channel web"], actions=["priority high"])
    db.session.commit()
    with batch_cache(), counted_statements() as seen:
        for number in range(3):
            _open(f"c{number}@example.com")
            db.session.commit()
    assert seen["SELECT sla_policy"] == 1
    assert seen["SELECT routing_rule"] == 1
    assert seen["SELECT sla_calendar"] == 1


def test_a_customer_follow_up_reads_neither_its_text_nor_unchanged_clocks_back(
        any_db_app: Flask) -> None:
    ticket = _open("b@example.com")
    db.session.commit()
    ticket = db.session.get(Ticket, ticket.id)
    assert ticket is not None
    with counted_statements() as seen:
        add_customer_message(ticket.customer.as_actor(), ticket, body_text="Still on fire",
                             channel="email")
    assert seen["INSERT message"] == 1 and seen["INSERT ticket_event"] == 1
    assert seen["UPDATE ticket"] == 1  # its activity time
    assert not {"SELECT message", "SELECT sla_clock"} & set(seen)


def test_a_participant_added_twice_before_the_flush_is_added_once(any_db_app: Flask) -> None:
    ticket = _open("d@example.com")
    colleague = find_or_create_customer("colleague@example.com", "Colleague")
    assert add_participant(SYSTEM, ticket, colleague) is True
    assert add_participant(SYSTEM, ticket, colleague) is False
    assert add_participant(SYSTEM, ticket, ticket.customer) is False
    db.session.commit()
    assert [p.customer.email for p in ticket.participants] == ["colleague@example.com"]
