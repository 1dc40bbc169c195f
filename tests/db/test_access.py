"""Who sees which ticket (helpdesk.auth.rules), on both engines."""

from sqlalchemy import select

from helpdesk.actors import SYSTEM
from helpdesk.auth.operations import create_agent
from helpdesk.auth.rules import can_view_ticket, visible_tickets
from helpdesk.customers.operations import find_or_create_customer
from helpdesk.db import db
from helpdesk.teams.operations import create_team
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.operations import open_ticket
from tests.conftest import PASSWORD


def _ticket(team=None):
    customer = find_or_create_customer("c@example.com")
    return open_ticket(
        SYSTEM, customer=customer, subject="s", body_text="b", channel="web", team=team
    )


def test_agent_sees_own_teams_and_untriaged_tickets_but_not_other_teams(any_db_app):
    support, billing = create_team("Support"), create_team("Billing")
    agent = create_agent(email="a@example.com", name="A", password=PASSWORD, teams=[support])
    mine, triage, other = _ticket(support), _ticket(None), _ticket(billing)
    db.session.commit()
    visible = set(db.session.scalars(select(Ticket.id).where(visible_tickets(agent))))
    assert visible == {mine.id, triage.id}
    assert not can_view_ticket(agent, other)


def test_agent_sees_a_ticket_assigned_to_them_in_another_team(any_db_app):
    support, billing = create_team("Support"), create_team("Billing")
    agent = create_agent(email="a@example.com", name="A", password=PASSWORD, teams=[support])
    other = _ticket(billing)
    other.assignee = agent
    db.session.commit()
    assert can_view_ticket(agent, other)
    assert other.id in set(db.session.scalars(select(Ticket.id).where(visible_tickets(agent))))


def test_admin_sees_everything(any_db_app):
    billing = create_team("Billing")
    admin = create_agent(email="root@example.com", name="R", password=PASSWORD, role="admin")
    ticket = _ticket(billing)
    db.session.commit()
    assert can_view_ticket(admin, ticket)
