"""SLA console pages, the ticket page's SLA card, and the customer's "we will reply by"."""

import json

import pytest

from helpdesk.db import db
from helpdesk.sla.models import SlaCalendar, SlaPolicy
from tests.conftest import csrf_token, login, post_form
from tests.sla.conftest import open_vip_ticket


@pytest.mark.parametrize("url", ["/console/sla/settings", "/console/sla/policies/new",
                                 "/console/sla/calendars/new"])
def test_sla_settings_are_for_admins_only(client, agent, url):
    login(client, agent.email)
    assert client.get(url).status_code == 403


def test_ticket_page_shows_the_timeline_and_why_the_policy_applies(client, admin,
                                                                   office_policy, clock):
    ticket = open_vip_ticket()
    clock.shift(4 * 3600)  # 13:00 in Shanghai: three hours ran, lunch was outside hours
    login(client, admin.email)
    page = client.get(f"/console/tickets/{ticket.id}").text
    assert "VIP office hours" in page and "Shanghai office" in page
    assert "customer_tier: VIP ∈ VIP" in page
    assert 'class="piece running"' in page and 'class="piece closed"' in page


def test_admin_saves_a_calendar_with_make_up_workdays(client, admin):
    login(client, admin.email)
    response = post_form(client, "/console/sla/calendars/new", "/console/sla/calendars/new", {
        "name": "Beijing", "timezone": "Asia/Shanghai",
        "weekly_hours": "mon-fri 09:00-18:00", "holiday_country": "cn",
        "closed_dates": "", "extra_working_days": "2026-02-14"})
    assert response.status_code == 302
    row = db.session.query(SlaCalendar).one()
    assert (row.holiday_country, row.extra_working_days) == ("CN", ["2026-02-14"])
    assert row.weekly_hours[0] == [[540, 1080]] and row.weekly_hours[5] == []


def test_calendar_errors_are_shown_next_to_the_field(client, admin):
    login(client, admin.email)
    page = post_form(client, "/console/sla/calendars/new", "/console/sla/calendars/new", {
        "name": "Bad", "timezone": "Mars/Base", "weekly_hours": "mon 9-5",
        "closed_dates": "", "extra_working_days": ""}).text
    assert "unknown timezone" in page and "is not like 09:00-17:30" in page
    assert db.session.query(SlaCalendar).count() == 0


def test_dry_run_compares_the_draft_with_the_current_policy_without_saving(
        client, admin, office_policy, clock):
    open_vip_ticket()
    clock.shift(3600)
    login(client, admin.email)
    url = f"/console/sla/policies/{office_policy.id}"
    page = post_form(client, url, url, {
        "name": "VIP office hours", "position": "0", "active": "y", "calendar": "0",
        "conditions": json.dumps({"customer_tier": ["VIP"]}),
        "targets": json.dumps({"normal": {"first_reply": {"minutes": 1}}}), "pauses": "{}",
        "warn_share": "0.75", "escalations": "[]", "days": "30", "dry_run": "1"}).text
    assert 'id="dry-run"' in page
    # Current: first reply and resolution still open; the draft's one-minute target is missed.
    assert '<td class="breached-draft">1</td>' in page
    assert '<td class="breached-current">0</td>' in page
    db.session.expire_all()
    assert db.session.get(SlaPolicy, office_policy.id).targets["normal"]["first_reply"] == {
        "minutes": 120}


def test_saving_a_policy_re_measures_open_tickets(client, admin, office_policy):
    ticket = open_vip_ticket()
    login(client, admin.email)
    url = f"/console/sla/policies/{office_policy.id}"
    response = post_form(client, url, url, {
        "name": "VIP office hours", "position": "0", "active": "y",
        "calendar": str(office_policy.calendar_id),
        "conditions": json.dumps({"customer_tier": ["VIP"]}),
        "targets": json.dumps({"normal": {"first_reply": {"minutes": 30}}}), "pauses": "{}",
        "warn_share": "", "escalations": "[]", "days": "30", "save": "1"})
    assert response.status_code == 302
    db.session.expire_all()
    assert (db.session.get(type(ticket), ticket.id).first_reply_due - ticket.created_at
            ).total_seconds() == 30 * 60


def test_compliance_report_counts_in_sql(client, agent, office_policy, clock):
    open_vip_ticket()
    clock.shift(86400 * 3)
    login(client, agent.email)
    page = client.get("/console/sla/report?by=policy&days=30").text
    assert "VIP office hours" in page and "0 met, 2 breached" in page


def test_acknowledgement_says_when_we_will_reply_in_the_customers_timezone(app, office_policy,
                                                                          smtp_sink):
    smtp_sink.clear()
    open_vip_ticket()
    [received] = smtp_sink.messages
    # Due Monday 11:00 in Shanghai = 04:00 in Berlin (the customer's CRM timezone).
    text = received.message.get_body(("plain",)).get_content()
    assert "We will reply by 2026-03-02 04:00 (Europe/Berlin)" in text


def test_web_form_confirmation_shows_the_reply_by_line(client, office_policy):
    page = client.get("/support")
    response = client.post("/support", data={
        "name": "Bo", "email": "bo@example.com", "subject": "Hi", "message": "Question",
        "csrf_token": csrf_token(page.text)}, follow_redirects=True)
    assert 'id="reply-by"' in response.text
    assert "(UTC)" in response.text  # Standard policy: no calendar, so UTC until the browser


def test_console_bar_shows_the_agents_unread_notification_count(client, agent, admin):
    from helpdesk.notifications.operations import NewNotification, notify_agents

    notify_agents([NewNotification(agent.id, None, "sla-warning", f"Warning {i}")
                   for i in range(3)] + [NewNotification(admin.id, None, "sla-breach", "Late")])
    db.session.commit()
    login(client, agent.email)
    bar = client.get("/console/").text.split("</nav>")[0]
    assert '<span class="badge" title="3 unread">3</span>' in bar
    inbox = client.get("/console/notifications/").text
    client.post("/console/notifications/read", data={"csrf_token": csrf_token(inbox)})
    assert 'class="badge"' not in client.get("/console/").text.split("</nav>")[0]
