"""Console pages for routing rules, automations, assignment, status and operations reports."""

from datetime import timedelta

import pytest

from helpdesk.automation.models import RoutingRule, TimeAutomation
from helpdesk.db import db
from tests.automation.conftest import make_rule, make_ticket
from tests.conftest import login, post_form

ADMIN_URLS = ["/console/admin/routing", "/console/admin/routing/1",
              "/console/admin/automations", "/console/admin/assignment",
              "/console/admin/agents/1/availability"]


@pytest.mark.parametrize("url", [*ADMIN_URLS, "/console/status", "/console/reports/operations"])
def test_pages_require_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("url", ADMIN_URLS)
def test_agents_may_not_open_admin_pages(client, agent, url):
    make_rule("r", [], ["add_tags x"])
    login(client, agent.email)
    assert client.get(url).status_code == 403


def test_an_admin_creates_a_rule_that_routes_the_next_ticket(client, admin):
    from helpdesk.teams.operations import create_team

    create_team("Billing")
    db.session.commit()
    login(client, admin.email)
    response = post_form(client, "/console/admin/routing", "/console/admin/routing", {
        "name": "退款 to billing", "enabled": "y", "on_created": "y",
        "conditions": "keyword 退款, refund\n", "actions": "team Billing\npriority high"})
    assert response.status_code == 302
    assert make_ticket(subject="申请退款").team.name == "Billing"


def test_a_bad_rule_line_is_shown_next_to_its_field(client, admin):
    login(client, admin.email)
    response = post_form(client, "/console/admin/routing", "/console/admin/routing", {
        "name": "Broken", "on_created": "y", "conditions": "colour red",
        "actions": "team Billing"})
    assert response.status_code == 200
    assert 'id="conditions-error"' in response.text
    assert "unknown condition" in response.text
    assert db.session.query(RoutingRule).count() == 0


def test_testing_a_rule_against_a_ticket_explains_each_condition(client, admin):
    rule = make_rule("VIP refunds", ["keyword 退款", "tier VIP"], ["priority urgent"])
    ticket = make_ticket(subject="申请退款")
    login(client, admin.email)
    page = client.get(f"/console/admin/routing/{rule.id}?ticket={ticket.id}").text
    assert "✓ <code>keyword 退款</code> — subject contains &#39;退款&#39;" in page
    assert "✗ <code>tier VIP</code> — tier is (none)" in page
    assert "The rule would not apply." in page


def test_rules_are_reordered_and_disabled_from_the_list(client, admin):
    first = make_rule("first", [], ["add_tags a"])
    second = make_rule("second", [], ["add_tags b"])
    login(client, admin.email)
    post_form(client, "/console/admin/routing", f"/console/admin/routing/{second.id}/move",
              {"direction": "up"})
    post_form(client, "/console/admin/routing", f"/console/admin/routing/{first.id}/toggle", {})
    db.session.expire_all()
    assert (db.session.get(RoutingRule, second.id).position,
            db.session.get(RoutingRule, first.id).position) == (1, 2)
    assert db.session.get(RoutingRule, first.id).enabled is False
    assert make_ticket().tags == ["b"]


def test_an_admin_creates_a_time_automation(client, admin):
    login(client, admin.email)
    response = post_form(client, "/console/admin/automations", "/console/admin/automations", {
        "name": "Close quickly", "enabled": "y", "status": "solved", "after_hours": "24",
        "action": "close", "message": ""})
    assert response.status_code == 302
    assert db.session.query(TimeAutomation).one().after_hours == 24


def test_an_agent_goes_online_from_the_console(client, agent):
    login(client, agent.email)
    post_form(client, "/console/status", "/console/status", {"status": "online"})
    db.session.expire_all()
    assert db.session.get(type(agent), agent.id).status == "online"


def test_an_admin_sets_capacity_skills_and_a_shift_and_a_bad_shift_is_refused(client, admin,
                                                                               agent):
    login(client, admin.email)
    url = f"/console/admin/agents/{agent.id}/availability"
    bad = post_form(client, url, url, {"capacity": "5", "skills": "billing", "languages": "zh",
                                       "shift": "Mars/Base; mon 09:00-10:00"})
    assert "unknown timezone" in bad.text
    post_form(client, url, url, {"capacity": "5", "skills": "Billing, VPN", "languages": "zh，en",
                                 "shift": "Asia/Shanghai; mon-fri 09:00-18:00"})
    db.session.expire_all()
    saved = db.session.get(type(agent), agent.id)
    assert (saved.capacity, saved.skills, saved.languages, saved.shift) == (
        5, ["billing", "vpn"], ["en", "zh"], "Asia/Shanghai; mon-fri 09:00-18:00")


def test_the_operations_report_shows_backlog_and_percentiles(client, agent):
    ticket = make_ticket()
    ticket.first_replied_at = ticket.created_at + timedelta(minutes=5)
    db.session.commit()
    login(client, agent.email)
    page = client.get("/console/reports/operations?period=week").text
    assert 'id="backlog"' in page and "No team" in page
    assert 'class="p50-value"' in page


def test_saving_a_rule_without_the_csrf_token_is_refused(client, admin):
    login(client, admin.email)
    response = client.post("/console/admin/routing", data={
        "name": "x", "on_created": "y", "conditions": "", "actions": "add_tags x"})
    assert response.status_code == 400
    assert db.session.query(RoutingRule).count() == 0


def test_testing_a_rule_against_a_missing_ticket_answers_404(client, admin):
    rule = make_rule("r", [], ["add_tags x"])
    login(client, admin.email)
    assert client.get(f"/console/admin/routing/{rule.id}?ticket=999").status_code == 404
