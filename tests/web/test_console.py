"""The agent console through HTTP: login, access, replies, property changes, downloads."""

import pytest

from helpdesk.actors import SYSTEM
from helpdesk.customers.operations import find_or_create_customer
from helpdesk.db import db
from helpdesk.teams.operations import create_team
from helpdesk.tickets.operations import NewAttachment, open_ticket
from tests.conftest import PASSWORD, csrf_token, login, make_app, post_form

CONSOLE_URLS = [
    "/console/",
    "/console/tickets/1",
    "/console/reports/csat",
    "/console/reports/failed-jobs",
    "/console/admin/agents",
    "/console/admin/teams",
    "/console/attachments/1",
    "/console/messages/1/html",
]


def _ticket(team=None, **kwargs):
    customer = find_or_create_customer("erin@example.com", "Erin")
    ticket = open_ticket(
        SYSTEM,
        customer=customer,
        subject="VPN drops every hour",
        body_text="It disconnects.",
        channel="web",
        team=team,
        acknowledge=False,
        **kwargs,
    )
    db.session.commit()
    return ticket


@pytest.mark.parametrize("url", CONSOLE_URLS)
def test_console_pages_require_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_agent_logs_in_and_sees_the_queue(client, agent):
    _ticket()
    response = login(client, agent.email)
    assert response.headers["Location"] == "/console/"
    page = client.get("/console/")
    assert "VPN drops every hour" in page.text


def test_wrong_password_is_refused_with_a_message_next_to_the_field(client, agent):
    response = login(client, agent.email, "not the password")
    assert response.status_code == 200
    assert "Wrong email or password." in response.text
    assert client.get("/console/").status_code == 302


def test_login_without_csrf_token_is_refused(client, agent):
    response = client.post("/login", data={"email": agent.email, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/console/").status_code == 302


def test_login_is_rate_limited(tmp_path, smtp_sink):
    app = make_app(
        f"sqlite:///{tmp_path / 'limited.sqlite'}",
        tmp_path,
        smtp_sink,
        RATELIMIT_ENABLED=True,
        LOGIN_RATE_LIMIT="3 per minute",
    )
    with app.app_context():
        db.create_all()
        client = app.test_client()
        statuses = [login(client, "nobody@example.com", "guess").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_login_never_redirects_off_site(client, agent):
    page = client.get("/login?next=//evil.example/phish")
    response = client.post(
        "/login?next=//evil.example/phish",
        data={"email": agent.email, "password": PASSWORD, "csrf_token": csrf_token(page.text)},
    )
    assert response.headers["Location"] == "/console/"


def test_agent_cannot_open_another_teams_ticket_or_its_attachment(client, agent):
    billing = create_team("Billing")
    ticket = _ticket(team=billing, attachments=[NewAttachment("x.pdf", "application/pdf", b"1")])
    attachment_id = ticket.messages[0].attachments[0].id
    login(client, agent.email)
    assert client.get(f"/console/tickets/{ticket.id}").status_code == 404
    assert client.get(f"/console/attachments/{attachment_id}").status_code == 404
    assert "VPN drops" not in client.get("/console/?queue=all").text


def test_attachments_are_served_only_as_downloads(client, agent):
    ticket = _ticket(
        attachments=[NewAttachment("page.html", "text/html", b"<script>alert(1)</script>")]
    )
    login(client, agent.email)
    response = client.get(f"/console/attachments/{ticket.messages[0].attachments[0].id}")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.mimetype == "application/octet-stream"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_customer_html_is_sanitised_and_served_sandboxed(client, agent):
    ticket = _ticket(
        body_html="<p>Hi</p><script>alert(document.cookie)</script><img src=x onerror=alert(1)>"
    )
    login(client, agent.email)
    response = client.get(f"/console/messages/{ticket.messages[0].id}/html")
    assert "<script" not in response.text and "onerror" not in response.text
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_agent_replies_and_the_customer_gets_the_email(client, agent, smtp_sink):
    ticket = _ticket()
    login(client, agent.email)
    url = f"/console/tickets/{ticket.id}"
    response = post_form(
        client,
        url,
        f"{url}/reply",
        {"body": "Please update the VPN client to 5.2.", "then_status": "pending"},
    )
    assert response.status_code == 302
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == ("erin@example.com",)
    assert "update the VPN client" in mail.message.get_body(("plain",)).get_content()
    page = client.get(url).text
    assert "Please update the VPN client to 5.2." in page
    db.session.refresh(ticket)
    assert ticket.status == "pending" and ticket.first_replied_at is not None


def test_empty_reply_shows_an_error_and_sends_nothing(client, agent, smtp_sink):
    ticket = _ticket()
    login(client, agent.email)
    url = f"/console/tickets/{ticket.id}"
    response = post_form(client, url, f"{url}/reply", {"body": ""})
    assert response.status_code == 200
    assert 'class="error"' in response.text
    assert smtp_sink.messages == []


def test_internal_note_shows_on_the_ticket_only(client, agent, smtp_sink):
    ticket = _ticket()
    login(client, agent.email)
    url = f"/console/tickets/{ticket.id}"
    post_form(client, url, f"{url}/note", {"body": "Called the customer, no answer."})
    assert "Called the customer, no answer." in client.get(url).text
    assert smtp_sink.messages == []


def test_agent_changes_status_priority_team_and_assignee(client, agent):
    team = create_team("Network")
    ticket = _ticket()
    login(client, agent.email)
    url = f"/console/tickets/{ticket.id}"
    post_form(
        client,
        url,
        f"{url}/properties",
        {"status": "on-hold", "priority": "high", "team": team.id, "assignee": agent.id},
    )
    db.session.refresh(ticket)
    assert (ticket.status, ticket.priority, ticket.team_id, ticket.assignee_id) == (
        "on-hold",
        "high",
        team.id,
        agent.id,
    )
    assert "Network" in client.get(url).text


def test_mine_queue_lists_only_tickets_assigned_to_me(client, agent):
    mine, other = _ticket(), _ticket()
    mine.assignee = agent
    db.session.commit()
    login(client, agent.email)
    page = client.get("/console/?queue=mine").text
    assert f'/console/tickets/{mine.id}"' in page
    assert f'/console/tickets/{other.id}"' not in page


def test_admin_pages_are_forbidden_to_agents(client, agent):
    login(client, agent.email)
    assert client.get("/console/admin/agents").status_code == 403


def test_admin_creates_a_team_and_an_agent_who_can_log_in(client, admin, app):
    login(client, admin.email)
    post_form(client, "/console/admin/teams", "/console/admin/teams", {"name": "VIP care"})
    assert "VIP care" in client.get("/console/admin/teams").text
    post_form(
        client,
        "/console/admin/agents",
        "/console/admin/agents",
        {
            "name": "New Agent",
            "email": "new@example.com",
            "password": "a long password!",
            "role": "agent",
        },
    )
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/console/").text)})
    fresh = app.test_client()
    assert login(fresh, "new@example.com", "a long password!").status_code == 302


def test_console_speaks_chinese(client, agent):
    login(client, agent.email)
    page = client.get("/console/?lang=zh_CN").text
    assert "工单" in page


def test_session_cookie_is_httponly_and_samesite(client, agent):
    response = login(client, agent.email)
    cookie = next(v for k, v in response.headers.items()
                  if k == "Set-Cookie" and v.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_pages_forbid_framing_and_sniffing(client):
    response = client.get("/login")
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "object-src 'none'" in response.headers["Content-Security-Policy"]


def test_admin_sees_and_dismisses_a_job_that_failed_for_good(client, admin):
    from helpdesk.jobs import JobFailure

    db.session.add(JobFailure(task="channels.email.send.deliver", queue="outbound",
                              arguments="[12]", error="Traceback...\nConnectionRefusedError"))
    db.session.commit()
    login(client, admin.email)
    page = client.get("/console/reports/failed-jobs").text
    assert "channels.email.send.deliver" in page and "ConnectionRefusedError" in page
    failure_id = db.session.scalar(db.select(JobFailure.id))
    post_form(client, "/console/reports/failed-jobs",
              f"/console/reports/failed-jobs/{failure_id}/dismiss", {})
    assert "No failed jobs." in client.get("/console/reports/failed-jobs").text
