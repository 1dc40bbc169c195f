"""The admins' mailbox health page."""

from __future__ import annotations

from flask.testing import FlaskClient

from channels.email.models import Mailbox
from channels.email.poller import poll_mailbox
from helpdesk.auth.models import Agent
from tests.conftest import login
from tests.email.conftest import ImapAccount


def test_mailbox_page_shows_health_and_quarantined_mail_to_admins(
        client: FlaskClient, admin: Agent, mailbox: Mailbox, imap: ImapAccount) -> None:
    imap.deliver(b"Subject: only junk\r\nX-Nothing: here\r\n\r\n\xff")
    imap.deliver(b"\x01 no headers at all")
    poll_mailbox(mailbox.id)
    login(client, admin.email)

    page = client.get("/console/mailboxes")
    set_aside = client.get("/console/mail/set-aside")

    assert page.status_code == 200
    assert "support@helpdesk.test" in page.text
    assert 'href="/console/mail/set-aside">2</a>' in page.text  # two quarantined
    assert imap.password not in page.text
    assert set_aside.text.count("quarantined") >= 2


def test_mailbox_page_is_for_admins_only(client: FlaskClient, agent: Agent) -> None:
    assert client.get("/console/mailboxes").status_code == 302  # to the login page
    login(client, agent.email)
    assert client.get("/console/mailboxes").status_code == 403
