"""The email console: mailbox health, mail set aside with re-ingest, the original of a mail
(as escaped text and as a download), and inline images in the ticket thread."""

from __future__ import annotations

import base64
from datetime import timedelta
from email.message import EmailMessage

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from channels.email.models import Mailbox, RawEmail
from channels.email.operations import OAuthGrant, add_mailbox
from channels.email.poller import poll_mailbox
from helpdesk.auth.models import Agent
from helpdesk.db import db, utcnow
from helpdesk.teams.operations import create_team
from helpdesk.tickets.models import Message, Ticket
from tests.conftest import csrf_token, login
from tests.email.conftest import SUPPORT, ImapAccount, customer_mail

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/"
                       "PchI7wAAAABJRU5ErkJggg==")


def _raw_email() -> RawEmail:
    db.session.expire_all()
    return db.session.scalars(select(RawEmail).order_by(RawEmail.id.desc())).first()  # type: ignore[return-value]


def _set_aside_mail(mailbox: Mailbox, raw: bytes) -> RawEmail:
    """A mail a rule quarantined, the way ingest leaves it."""
    raw_email = RawEmail(mailbox_id=mailbox.id, uidvalidity=1, uid=99, raw=raw, size=len(raw),
                         status="quarantined", verdict="quarantine",
                         hits=[{"rule": "blocked-sender", "action": "quarantine",
                                "detail": "alice@customer.test is blocked"}],
                         error="blocked-sender: alice@customer.test is blocked")
    db.session.add(raw_email)
    db.session.commit()
    return raw_email


def test_mailbox_health_shows_connection_lag_and_errors_but_no_secrets(
        client: FlaskClient, admin: Agent, mailbox: Mailbox, imap: ImapAccount) -> None:
    oauth = add_mailbox(name="m365", address="m365@helpdesk.test", imap_host="127.0.0.1",
                        imap_port=1, imap_security="none", imap_username="m365",
                        oauth=OAuthGrant("https://login.example/token", "client-id",
                                         "client-secret-value", "refresh-token-value"))
    oauth.oauth_access_token = "access-token-value"
    oauth.last_error = "OAuthGrantRefused: invalid_grant: refresh token revoked"
    mailbox.connection_state = "idle"
    db.session.add(RawEmail(mailbox_id=mailbox.id, uidvalidity=1, uid=1, raw=b"x", size=1,
                            received_at=utcnow() - timedelta(minutes=7)))
    db.session.commit()
    login(client, admin.email)

    page = client.get("/console/mailboxes").text

    assert "IDLE connected" in page
    assert "7m" in page  # lag: the oldest mail waiting for ingest
    assert "invalid_grant" in page
    for secret in (imap.password, "client-secret-value", "refresh-token-value",
                   "access-token-value"):
        assert secret not in page


def test_set_aside_list_shows_verdict_and_rule_hits(
        client: FlaskClient, admin: Agent, mailbox: Mailbox) -> None:
    _set_aside_mail(mailbox, customer_mail(subject="Blocked one"))
    login(client, admin.email)

    page = client.get("/console/mail/set-aside").text

    assert "quarantined" in page and "blocked-sender" in page
    assert "alice@customer.test is blocked" in page


def test_reingest_is_a_csrf_checked_post_that_makes_the_ticket(
        client: FlaskClient, admin: Agent, mailbox: Mailbox) -> None:
    raw_email = _set_aside_mail(mailbox, customer_mail(subject="Blocked by mistake"))
    login(client, admin.email)
    url = f"/console/mail/{raw_email.id}/reingest"

    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 400  # no CSRF token
    token = csrf_token(client.get("/console/mail/set-aside").text)
    response = client.post(url, data={"csrf_token": token}, follow_redirects=True)

    assert response.status_code == 200
    assert "Ingested again: ticket #" in response.text
    assert _raw_email().status == "ingested"
    assert db.session.scalars(select(Ticket.subject)).all() == ["Blocked by mistake"]


def test_set_aside_pages_are_for_admins_only(
        client: FlaskClient, agent: Agent, mailbox: Mailbox) -> None:
    raw_email = _set_aside_mail(mailbox, customer_mail())
    login(client, agent.email)

    assert client.get("/console/mail/set-aside").status_code == 403
    token = csrf_token(client.get("/console/").text)
    assert client.post(f"/console/mail/{raw_email.id}/reingest",
                       data={"csrf_token": token}).status_code == 403
    assert client.get(f"/console/mail/{raw_email.id}.eml").status_code == 404
    assert client.get(f"/console/mail/{raw_email.id}/original").status_code == 404


def test_show_original_escapes_the_mail_and_survives_raw_8bit_headers(
        client: FlaskClient, admin: Agent, mailbox: Mailbox) -> None:
    raw = (b"From: =?GBK?B?1cXI/Q==?= <zhang@customer.test>\r\n"
           b"To: support@helpdesk.test\r\nSubject: \xd6\xd0\xce\xc4 <script>alert(1)</script>\r\n"
           b"Content-Type: text/html; charset=utf-8\r\n\r\n"
           b"<img src=x onerror=alert(2)><script>alert(3)</script>\r\n")
    raw_email = _set_aside_mail(mailbox, raw)
    login(client, admin.email)

    page = client.get(f"/console/mail/{raw_email.id}/original")

    assert page.status_code == 200
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in page.text
    assert "张三" in page.text  # the RFC 2047 GBK display name, decoded


def test_raw_mail_downloads_byte_for_byte_as_an_rfc822_attachment(
        client: FlaskClient, admin: Agent, mailbox: Mailbox, imap: ImapAccount) -> None:
    sent = customer_mail(subject="Keep me whole")
    imap.deliver(sent)
    poll_mailbox(mailbox.id)
    raw_email = _raw_email()
    login(client, admin.email)

    response = client.get(f"/console/mail/{raw_email.id}.eml")

    assert response.status_code == 200
    assert response.mimetype == "message/rfc822"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.data == raw_email.raw
    assert b"Subject: Keep me whole" in response.data


def test_agents_get_the_original_only_of_mail_on_tickets_they_may_see(
        app: Flask, client: FlaskClient, agent: Agent, mailbox: Mailbox,
        imap: ImapAccount) -> None:
    imap.deliver(customer_mail(subject="For the team"))
    poll_mailbox(mailbox.id)
    raw_email = _raw_email()
    login(client, agent.email)
    assert client.get(f"/console/mail/{raw_email.id}.eml").status_code == 200  # untriaged

    ticket = db.session.get(Ticket, raw_email.ticket_id)
    assert ticket is not None
    ticket.team = create_team("Billing")  # a team the agent is not in
    db.session.commit()

    assert client.get(f"/console/mail/{raw_email.id}.eml").status_code == 404
    assert client.get(f"/console/mail/{raw_email.id}/original").status_code == 404
    anonymous = app.test_client()
    assert anonymous.get(f"/console/mail/{raw_email.id}.eml").status_code == 302  # to login


def _mail_with_inline_parts() -> bytes:
    message = EmailMessage()
    message["From"] = "Alice <alice@customer.test>"
    message["To"] = SUPPORT
    message["Subject"] = "Screenshot attached"
    message.set_content("See the screenshot.")
    message.add_alternative('<p>See <img src="cid:shot@customer.test"> and '
                            '<img src="cid:vector@customer.test"></p>', subtype="html")
    html_part = message.get_payload()[1]
    html_part.add_related(PNG, "image", "png", cid="<shot@customer.test>")
    html_part.add_related(b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script>'
                          b"</svg>", "image", "svg+xml", cid="<vector@customer.test>")
    return message.as_bytes()


def test_ticket_thread_embeds_inline_raster_images_but_never_svg_and_links_the_original(
        client: FlaskClient, admin: Agent, mailbox: Mailbox, imap: ImapAccount) -> None:
    imap.deliver(_mail_with_inline_parts())
    poll_mailbox(mailbox.id)
    message = db.session.scalars(select(Message)).one()
    login(client, admin.email)

    formatted = client.get(f"/console/messages/{message.id}/html")
    thread = client.get(f"/console/tickets/{message.ticket_id}").text

    png = base64.b64encode(PNG).decode()
    assert f'src="data:image/png;base64,{png}"' in formatted.text
    assert "svg" not in formatted.text.split("cid:vector")[0].split("<p>")[-1]
    assert 'src="cid:vector@customer.test"' in formatted.text  # left dead, not embedded
    assert "sandbox" in formatted.headers["Content-Security-Policy"]
    assert f"/console/mail/{_raw_email().id}/original" in thread
    for attachment in message.attachments:
        download = client.get(f"/console/attachments/{attachment.id}")
        assert download.headers["Content-Disposition"].startswith("attachment;")
        assert download.mimetype == "application/octet-stream"
