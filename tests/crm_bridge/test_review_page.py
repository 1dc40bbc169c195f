"""The admins' list of CRM records that did not map."""

from crm_bridge.operations import record_unmapped
from helpdesk.db import db
from tests.conftest import login, post_form


def _item():
    item = record_unmapped("demo-crm", 7, {"Email": "frank@example.com", "Segment": "Platinum"},
                           "tier: unknown value 'Platinum'")
    db.session.commit()
    return item


def test_admin_sees_unresolved_records_and_can_resolve_them(app, client, admin):
    item = _item()
    login(client, admin.email)
    page = client.get("/console/crm/review").text
    assert "tier: unknown value" in page and "frank@example.com" in page
    post_form(client, "/console/crm/review", f"/console/crm/review/{item.id}/resolve", {})
    db.session.refresh(item)
    assert item.resolved_at is not None
    assert "frank@example.com" not in client.get("/console/crm/review").text


def test_agents_who_are_not_admins_are_refused(app, client, agent):
    _item()
    login(client, agent.email)
    assert client.get("/console/crm/review").status_code == 403


def test_review_page_requires_login(app, client):
    response = client.get("/console/crm/review")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
