"""Helpers for routing, assignment and automation tests: teams of agents, tickets, rules."""

from __future__ import annotations

import pytest

from helpdesk.actors import SYSTEM
from helpdesk.auth.operations import create_agent
from helpdesk.automation.assignment import team_assignment
from helpdesk.automation.operations import save_rule
from helpdesk.customers.operations import find_or_create_customer
from helpdesk.db import db
from helpdesk.teams.operations import create_team
from helpdesk.tickets.operations import open_ticket
from tests.conftest import PASSWORD


def make_team(name, agents=(), *, strategy="round_robin", auto_assign=True, status="online"):
    """A team whose agents (names) are created with ``status``; returns (team, agents)."""
    team = create_team(name)
    members = []
    for agent_name in agents:
        agent = create_agent(email=f"{agent_name.lower()}@example.com", name=agent_name,
                             password=PASSWORD, teams=[team])
        agent.status = status
        members.append(agent)
    settings = team_assignment(team.id)
    settings.strategy = strategy
    settings.auto_assign = auto_assign
    db.session.commit()
    return team, members


def make_ticket(subject="Printer on fire", body="It is on fire.", *, email="erin@example.com",
                channel="web", team=None, **kwargs):
    customer = find_or_create_customer(email, "Erin")
    ticket = open_ticket(SYSTEM, customer=customer, subject=subject, body_text=body,
                         channel=channel, team=team, acknowledge=False, **kwargs)
    db.session.commit()
    return ticket


def make_rule(name, conditions, actions, *, on_created=True, on_updated=False, enabled=True):
    rule = save_rule(None, name=name, enabled=enabled, on_created=on_created,
                     on_updated=on_updated, conditions=list(conditions), actions=list(actions))
    db.session.commit()
    return rule


def events(ticket, kind):
    from helpdesk.tickets.queries import ticket_history

    return [event for event in ticket_history(ticket) if event.kind == kind]


@pytest.fixture
def billing(any_db_app):
    return make_team("Billing")[0]
