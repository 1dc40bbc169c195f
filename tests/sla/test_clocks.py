"""Clocks follow ticket events on SQLite and PostgreSQL, measured from the ledger."""

from datetime import timedelta

from helpdesk.actors import SYSTEM
from helpdesk.auth.operations import create_agent
from helpdesk.db import db
from helpdesk.sla.queries import ticket_clocks, ticket_sla
from helpdesk.tickets.operations import (
    add_customer_message,
    add_internal_note,
    reply_to_customer,
    update_ticket,
)
from tests.conftest import PASSWORD
from tests.sla.conftest import MONDAY_9, open_vip_ticket

HOUR = timedelta(hours=1)


def clocks(ticket):
    return {clock.kind: clock for clock in ticket_clocks(ticket.id)}


def test_vip_ticket_gets_the_vip_policy_in_business_hours_and_the_reason(any_db_app,
                                                                         office_policy):
    ticket = open_vip_ticket()
    assert ticket.sla_policy_name == "VIP office hours"
    assert clocks(ticket)["first_reply"].due_at == MONDAY_9 + 2 * HOUR
    [verdict] = ticket_sla(ticket.id).explanation
    assert verdict["matched"] and verdict["checks"][0]["condition"] == "customer_tier"


def test_deadline_skips_lunch_and_night(any_db_app, office_policy, clock):
    clock.move_to(MONDAY_9 + 2 * HOUR)  # 11:00 Shanghai
    ticket = open_vip_ticket()
    # 11:00-12:00, lunch, 13:00-14:00
    assert clocks(ticket)["first_reply"].due_at == MONDAY_9 + 5 * HOUR


def test_internal_note_does_not_meet_first_reply_but_a_public_reply_does(
        any_db_app, office_policy, clock):
    agent = create_agent(email="a@example.com", name="A", password=PASSWORD)
    ticket = open_vip_ticket()
    clock.shift(HOUR)
    add_internal_note(agent.as_actor(), agent, ticket, body_text="looking")
    db.session.commit()
    assert clocks(ticket)["first_reply"].status == "running"
    reply_to_customer(agent.as_actor(), agent, ticket, body_text="Fixed?")
    db.session.commit()
    first = clocks(ticket)["first_reply"]
    assert (first.status, first.elapsed_seconds) == ("met", 3600)


def test_customer_message_after_the_reply_starts_next_reply(any_db_app, office_policy, clock):
    agent = create_agent(email="a@example.com", name="A", password=PASSWORD)
    ticket = open_vip_ticket()
    reply_to_customer(agent.as_actor(), agent, ticket, body_text="Hi")
    clock.shift(HOUR)
    add_customer_message(ticket.customer.as_actor(), ticket, body_text="Still broken",
                         channel="email")
    db.session.commit()
    next_reply = clocks(ticket)["next_reply"]
    assert next_reply.status == "running"
    assert next_reply.due_at == MONDAY_9 + 2 * HOUR


def test_pending_pauses_resolution_and_reopen_resumes_with_elapsed_kept(
        any_db_app, office_policy, clock):
    agent = create_agent(email="a@example.com", name="A", password=PASSWORD)
    ticket = open_vip_ticket()
    clock.shift(HOUR)
    reply_to_customer(agent.as_actor(), agent, ticket, body_text="Which browser?")
    update_ticket(SYSTEM, ticket, status="pending")
    db.session.commit()
    assert clocks(ticket)["resolution"].status == "paused"
    clock.shift(24 * HOUR)  # Tuesday 10:00
    add_customer_message(ticket.customer.as_actor(), ticket, body_text="Here", channel="email")
    db.session.commit()
    resolution = clocks(ticket)["resolution"]
    assert resolution.status == "running" and resolution.elapsed_seconds == 3600
    # 7 of 8 business hours left from Tuesday 10:00: 10-12, 13-18 -> Tuesday 18:00
    assert resolution.due_at == MONDAY_9 + 33 * HOUR


def test_solving_meets_resolution_and_reopening_resumes_it(any_db_app, office_policy, clock):
    ticket = open_vip_ticket()
    clock.shift(HOUR)
    update_ticket(SYSTEM, ticket, status="solved")
    db.session.commit()
    assert clocks(ticket)["resolution"].status == "met"
    clock.shift(HOUR)
    update_ticket(SYSTEM, ticket, status="open")
    db.session.commit()
    resolution = clocks(ticket)["resolution"]
    assert resolution.status == "running" and resolution.stopped_at is None
    # 7 hours left from Monday 11:00: 11-12, 13-18, then Tuesday 09-10
    assert resolution.due_at == MONDAY_9 + 25 * HOUR


def test_priority_change_recomputes_from_the_ledger_not_from_scratch(any_db_app, office_policy,
                                                                     clock):
    ticket = open_vip_ticket()
    clock.shift(30 * timedelta(minutes=1))
    update_ticket(SYSTEM, ticket, priority="high")
    db.session.commit()
    first = clocks(ticket)["first_reply"]
    assert first.target_minutes == 60 and first.elapsed_seconds == 1800
    assert first.due_at == MONDAY_9 + HOUR
    assert ticket.first_reply_due == first.due_at


def test_ticket_without_matching_conditions_falls_to_the_standard_policy(any_db_app,
                                                                         office_policy):
    from helpdesk.customers.operations import find_or_create_customer
    from helpdesk.tickets.operations import open_ticket

    ticket = open_ticket(SYSTEM, customer=find_or_create_customer("b@example.com", "B"),
                         subject="Hi", body_text="x", channel="web", acknowledge=False)
    db.session.commit()
    assert ticket.sla_policy_name == "Standard"
    reasons = ticket_sla(ticket.id).explanation
    assert [(v["policy"], v["matched"]) for v in reasons] == [("VIP office hours", False),
                                                               ("Standard", True)]

