"""The SLA policy is chosen again whenever a field its conditions read changes after creation,
whether an agent or a routing rule changed it; clocks keep their elapsed time."""

from datetime import timedelta

import pytest

from helpdesk.actors import SYSTEM
from helpdesk.db import db
from helpdesk.sla.operations import save_policy
from helpdesk.sla.queries import ticket_clocks, ticket_sla
from helpdesk.teams.operations import create_team
from helpdesk.tickets.operations import add_customer_message, update_ticket
from tests.automation.conftest import make_rule
from tests.sla.conftest import MONDAY_9, open_vip_ticket

HOUR = timedelta(hours=1)


@pytest.fixture
def billing_policy(office_policy):
    """First in order: tickets of the Billing team or tagged "invoice" get 4 hours (24/7)."""
    create_team("Billing")
    policy = save_policy(None, name="Billing", position=-1,
                         conditions={"team": ["Billing"]},
                         targets={"normal": {"first_reply": {"minutes": 240,
                                                             "business_hours": False}}})
    save_policy(None, name="Invoices", position=-2, conditions={"ticket_tags": ["invoice"]},
                targets={"normal": {"first_reply": {"minutes": 180, "business_hours": False}}})
    db.session.commit()
    return policy


def first_reply(ticket):
    return next(clock for clock in ticket_clocks(ticket.id) if clock.kind == "first_reply")


def test_routing_rule_moving_the_ticket_to_a_team_rechooses_its_policy(
        any_db_app, billing_policy, clock):
    make_rule("Billing words", ["keyword refund"], ["team Billing"], on_created=False,
              on_updated=True)
    ticket = open_vip_ticket()
    assert ticket.sla_policy_name == "VIP office hours"
    clock.shift(30 * timedelta(minutes=1))
    add_customer_message(SYSTEM, ticket, body_text="I want a refund", channel="email")
    db.session.commit()
    assert ticket.team is not None and ticket.team.name == "Billing"
    assert ticket.sla_policy_name == "Billing"
    assert [v["policy"] for v in ticket_sla(ticket.id).explanation if v["matched"]] == ["Billing"]
    measured = first_reply(ticket)
    # Re-measured from the ledger under the new policy: the 30 minutes already run are kept.
    assert (measured.target_minutes, measured.elapsed_seconds) == (240, 1800)
    assert measured.due_at == ticket.first_reply_due == MONDAY_9 + 4 * HOUR


def test_routing_rule_adding_a_tag_a_policy_reads_rechooses_its_policy(
        any_db_app, billing_policy, clock):
    make_rule("Invoice words", ["keyword invoice"], ["add_tags invoice"], on_created=False,
              on_updated=True)
    ticket = open_vip_ticket()
    add_customer_message(SYSTEM, ticket, body_text="Where is my invoice?", channel="email")
    db.session.commit()
    assert ticket.sla_policy_name == "Invoices"
    assert first_reply(ticket).due_at == MONDAY_9 + 3 * HOUR


def test_agent_moving_the_ticket_to_a_team_rechooses_its_policy(any_db_app, billing_policy,
                                                               clock):
    from helpdesk.teams.models import Team

    ticket = open_vip_ticket()
    update_ticket(SYSTEM, ticket, team=db.session.query(Team).filter_by(name="Billing").one())
    db.session.commit()
    assert ticket.sla_policy_name == "Billing"
    assert first_reply(ticket).due_at == MONDAY_9 + 4 * HOUR


def test_routing_rule_changing_nothing_the_sla_reads_keeps_the_policy(
        any_db_app, billing_policy, clock):
    make_rule("Escalate", ["keyword refund"], ["priority high"], on_created=False,
              on_updated=True, enabled=False)
    ticket = open_vip_ticket()
    add_customer_message(SYSTEM, ticket, body_text="I want a refund", channel="email")
    db.session.commit()
    assert ticket.sla_policy_name == "VIP office hours"
