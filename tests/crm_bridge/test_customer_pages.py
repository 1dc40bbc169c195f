"""Customer-360 sidebar, customer page, conflicts and merges through the console."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpdesk.actors import Actor
from helpdesk.customers.merge import InvalidMerge, merge_customers, undo_merge
from helpdesk.customers.models import Customer, CustomerMerge, ProfileConflict
from helpdesk.customers.operations import find_or_create_customer, upsert_profile
from helpdesk.customers.profiles import IncomingProfile, apply_profiles
from helpdesk.db import db
from helpdesk.surveys.models import SurveyInvitation
from helpdesk.teams.operations import create_team
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.operations import open_ticket
from tests.conftest import login, post_form

ADMIN = Actor(kind="agent", id=None, name="Ada Admin")


def _ticket(customer, subject="Help", team=None):
    ticket = open_ticket(customer.as_actor(), customer=customer, subject=subject,
                         body_text="Hello", channel="web", team=team, acknowledge=False)
    db.session.commit()
    return ticket


def _synced_customer(email="vip@example.com", **fields):
    apply_profiles("acme-crm", [IncomingProfile(
        email=email, external_id="C-9", crm_url="https://crm.example.com/c/C-9",
        fields={"tier": "VIP", "company": "ACME", "owner": "Wang", **fields})],
        helpdesk_owned={"tags"})
    db.session.commit()
    return db.session.scalar(select(Customer).where(Customer.email == email))


def test_ticket_sidebar_shows_profile_with_provenance_and_crm_link(app, client, agent):
    customer = _synced_customer()
    ticket = _ticket(customer)
    login(client, "agent@example.com")
    page = client.get(f"/console/tickets/{ticket.id}").text
    assert 'class="tag tier">VIP<' in page
    assert "acme-crm · C-9" in page
    assert 'href="https://crm.example.com/c/C-9"' in page and 'rel="noopener noreferrer"' in page


def test_sidebar_lists_only_tickets_the_agent_may_see_and_csat_history(app, client, agent):
    customer = _synced_customer()
    hidden_team = create_team("Billing")
    current = _ticket(customer, "Current")
    _ticket(customer, "Secret billing matter", team=hidden_team)
    older = _ticket(customer, "Older")
    older.status = "solved"
    db.session.add(SurveyInvitation(ticket_id=older.id, customer_id=customer.id,
                                    solved_at=older.created_at, rating=2,
                                    answered_at=older.created_at))
    db.session.commit()
    login(client, "agent@example.com")
    page = client.get(f"/console/tickets/{current.id}").text
    assert "Older" in page and "2/5" in page
    assert "Secret billing matter" not in page


def test_crm_link_is_only_built_from_http_templates():
    from crm_bridge.records import record_url
    assert record_url("javascript:alert(1)//{external_id}", "C-1") is None
    assert record_url("https://crm.example.com/c/{external_id}", "a/b?c") == \
        "https://crm.example.com/c/a%2Fb%3Fc"


def test_agent_edits_helpdesk_owned_field_but_not_crm_owned(app, client, agent):
    customer = _synced_customer()
    login(client, "agent@example.com")
    url = f"/console/customers/{customer.id}"
    page = client.get(url).text
    assert 'name="tags"' in page and 'name="tier"' not in page
    post_form(client, url, f"{url}/profile", {"tags": "key-account, renewal", "tier": "Basic"})
    db.session.expire_all()
    customer = db.session.get(Customer, customer.id)
    assert customer.tags == ["key-account", "renewal"]
    assert customer.tier == "VIP"  # a posted CRM-owned field is ignored
    assert customer.provenance["tags"]["by"] == "agent"
    assert "edited by Li Wei" in client.get(url).text


def test_agent_resolves_a_conflict_by_taking_the_crm_value(app, client, agent):
    customer = _synced_customer(tags=["a"])
    apply_profiles("acme-crm", [IncomingProfile(email=customer.email, external_id="C-9",
                                                fields={"tags": ["b"]})],
                   helpdesk_owned={"tags"})
    db.session.commit()
    conflict = db.session.scalar(select(ProfileConflict))
    login(client, "agent@example.com")
    url = f"/console/customers/{customer.id}"
    assert "Take CRM value" in client.get(url).text
    post_form(client, url, f"/console/customers/conflicts/{conflict.id}/resolve", {"take": "crm"})
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).tags == ["b"]
    assert db.session.get(ProfileConflict, conflict.id).resolved_by == "Li Wei"


def test_merge_moves_tickets_and_identities_and_undo_restores_them(any_db_app):
    winner = find_or_create_customer("main@example.com", "Main")
    loser = find_or_create_customer("old@example.com", "Old")
    loser.phone = "+8613800138000"
    db.session.commit()
    ticket = _ticket(loser)
    record = merge_customers(ADMIN, winner, loser)
    db.session.commit()
    assert db.session.get(Ticket, ticket.id).customer_id == winner.id
    assert find_or_create_customer("OLD@example.com").id == winner.id
    assert db.session.get(Customer, winner.id).phone == "+8613800138000"
    undo_merge(ADMIN, db.session.get(CustomerMerge, record.id))
    db.session.commit()
    assert db.session.get(Ticket, ticket.id).customer_id == loser.id
    assert find_or_create_customer("old@example.com").id == loser.id
    assert db.session.get(Customer, winner.id).phone is None
    with pytest.raises(InvalidMerge):
        undo_merge(ADMIN, db.session.get(CustomerMerge, record.id))


def test_only_admins_may_merge(app, client, agent, admin):
    first = find_or_create_customer("a@example.com")
    find_or_create_customer("b@example.com")
    db.session.commit()
    login(client, "agent@example.com")
    url = f"/console/customers/{first.id}"
    assert 'id="merge"' not in client.get(url).text
    response = post_form(client, url, f"{url}/merge", {"other_email": "b@example.com"})
    assert response.status_code == 403
    admin_client = app.test_client()
    login(admin_client, "admin@example.com")
    response = post_form(admin_client, url, f"{url}/merge", {"other_email": "b@example.com"})
    assert response.status_code == 302
    assert db.session.scalar(select(CustomerMerge.actor_name)) == "Ada Admin"


def test_upsert_profile_keeps_working_for_the_demo_data(app):
    customer, update = upsert_profile("grace@acme.example", {"tier": "VIP"}, source="demo")
    assert update.created and customer.tier == "VIP"
    _, again = upsert_profile("grace@acme.example", {"tier": "VIP"}, source="demo")
    assert not again.created and again.changed_fields == ()
