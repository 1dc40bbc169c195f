"""Mailboxes in the console: add, edit, disable and test a connection, for admins only, with
the same rules as ``flask mailbox add`` and secrets that are never shown again."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from channels.email.models import Mailbox
from channels.email.poller import poll_mailbox
from helpdesk.auth.models import Agent
from helpdesk.db import db
from helpdesk.teams.operations import create_team
from tests.conftest import login, post_form
from tests.email.conftest import ImapAccount, customer_mail, make_mailbox, new_account
from tests.services import DovecotServer

NEW = "/console/mailboxes/new"


def _fields(imap: ImapAccount | None = None, **overrides: Any) -> dict[str, Any]:
    fields = {
        "name": "sales", "address": "Sales@Helpdesk.test", "team": "0",
        "imap_host": imap.server.host if imap else "imap.example.com",
        "imap_security": "none" if imap else "tls",
        "imap_port": str(imap.server.port) if imap else "",
        "imap_folder": "INBOX", "imap_username": imap.user if imap else "sales",
        "auth_method": "password", "password": imap.password if imap else "s3cret-pw",
        "oauth_token_url": "", "oauth_client_id": "", "oauth_client_secret": "",
        "oauth_refresh_token": "", "save": "1",
    }
    return fields | overrides


def _mailbox(name: str = "sales") -> Mailbox:
    db.session.expire_all()
    return db.session.scalars(select(Mailbox).where(Mailbox.name == name)).one()


@pytest.fixture
def as_admin(client: FlaskClient, admin: Agent) -> FlaskClient:
    login(client, admin.email)
    return client


@pytest.mark.parametrize("url", [NEW, "/console/mailboxes/1", "/console/mail/blocked-senders"])
def test_mailbox_settings_pages_are_for_admins_only(
        client: FlaskClient, agent: Agent, mailbox: Mailbox, url: str) -> None:
    assert client.get(url).status_code == 302  # to the login page
    login(client, agent.email)
    assert client.get(url).status_code == 403
    assert client.post(url, data=_fields()).status_code in (400, 403)


def test_admin_adds_a_mailbox_stored_as_the_cli_stores_it(
        app: Flask, as_admin: FlaskClient) -> None:
    team = create_team("Sales")
    db.session.commit()

    response = post_form(as_admin, NEW, NEW, _fields(team=str(team.id)))

    assert response.status_code == 302
    mailbox = _mailbox()
    assert (mailbox.address, mailbox.imap_host, mailbox.imap_port, mailbox.imap_security,
            mailbox.auth_method, mailbox.imap_password, mailbox.team_id, mailbox.active) == (
        "sales@helpdesk.test", "imap.example.com", 993, "tls", "password", "s3cret-pw",
        team.id, True)
    listing = as_admin.get("/console/mailboxes").text
    assert f'href="/console/mailboxes/{mailbox.id}"' in listing
    assert "s3cret-pw" not in listing


def test_plain_imap_to_another_machine_is_refused_next_to_the_security_field(
        app: Flask, as_admin: FlaskClient) -> None:
    page = post_form(as_admin, NEW, NEW, _fields(imap_security="none")).text

    assert 'id="imap_security-error"' in page
    assert "only for a server on this machine" in page
    assert db.session.scalars(select(Mailbox)).all() == []


def test_cli_refuses_plain_imap_to_another_machine_by_the_same_rule(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=[
        "mailbox", "add", "--name", "x", "--address", "x@helpdesk.test",
        "--imap-host", "imap.example.com", "--username", "u", "--password", "p",
        "--security", "none"])

    assert result.exit_code != 0
    assert "only for a server on this machine" in result.output
    assert db.session.scalars(select(Mailbox)).all() == []


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"address": "not an address"}, "address", "not a valid email address"),
    ({"password": ""}, "password", "needs a password"),
    ({"auth_method": "xoauth2"}, "oauth_token_url", "token URL"),
    ({"auth_method": "xoauth2", "oauth_token_url": "http://login.example.com/token",
      "oauth_client_id": "c", "oauth_refresh_token": "r"}, "oauth_token_url", "https"),
    ({"auth_method": "xoauth2", "oauth_token_url": "https://login.example.com/token",
      "oauth_refresh_token": "r"}, "oauth_client_id", "client id"),
])
def test_invalid_settings_are_explained_next_to_their_field(
        app: Flask, as_admin: FlaskClient, overrides: dict[str, str], field: str,
        message: str) -> None:
    page = post_form(as_admin, NEW, NEW, _fields(**overrides)).text

    assert f'id="{field}-error"' in page
    assert message in page
    assert db.session.scalars(select(Mailbox)).all() == []


def test_duplicate_name_is_refused(app: Flask, as_admin: FlaskClient,
                                   mailbox: Mailbox) -> None:
    page = post_form(as_admin, NEW, NEW, _fields(name=mailbox.name)).text

    assert 'id="name-error"' in page and "already exists" in page


def test_xoauth2_grant_is_stored_and_its_secrets_never_shown_again(
        app: Flask, as_admin: FlaskClient) -> None:
    post_form(as_admin, NEW, NEW, _fields(
        auth_method="xoauth2", password="", oauth_token_url="https://login.example.com/token",
        oauth_client_id="client-1", oauth_client_secret="client-secret-1",
        oauth_refresh_token="refresh-token-1"))
    mailbox = _mailbox()
    url = f"/console/mailboxes/{mailbox.id}"

    page = as_admin.get(url).text
    # Blank secrets keep the stored ones; a new client id replaces the old.
    post_form(as_admin, url, url, _fields(
        auth_method="xoauth2", password="", oauth_token_url="https://login.example.com/token",
        oauth_client_id="client-2"))

    assert "client-secret-1" not in page and "refresh-token-1" not in page
    assert "client-1" in page
    mailbox = _mailbox()
    assert (mailbox.auth_method, mailbox.imap_password, mailbox.oauth_client_id,
            mailbox.oauth_client_secret, mailbox.oauth_refresh_token) == (
        "xoauth2", "", "client-2", "client-secret-1", "refresh-token-1")


def test_edit_keeps_the_password_when_left_blank_and_never_shows_it(
        app: Flask, as_admin: FlaskClient, imap: ImapAccount) -> None:
    stored = make_mailbox(imap, name="sales")
    url = f"/console/mailboxes/{stored.id}"

    page = as_admin.get(url).text
    response = post_form(as_admin, url, url, _fields(imap, password="", imap_folder="Support"))

    assert imap.password not in page
    assert response.status_code == 302
    mailbox = _mailbox()
    assert (mailbox.imap_password, mailbox.imap_folder) == (imap.password, "Support")


def test_moving_a_mailbox_to_another_folder_starts_its_cursor_afresh(
        app: Flask, as_admin: FlaskClient, imap: ImapAccount) -> None:
    stored = make_mailbox(imap, name="sales")
    imap.deliver(customer_mail())
    poll_mailbox(stored.id)
    assert _mailbox().last_uid == 1
    url = f"/console/mailboxes/{stored.id}"

    post_form(as_admin, url, url, _fields(imap, password="", name="sales"))
    cursor_kept = _mailbox().last_uid
    post_form(as_admin, url, url, _fields(imap, password="", imap_folder="Archive"))
    moved = _mailbox()

    assert (cursor_kept, moved.last_uid, moved.uidvalidity) == (1, 0, None)


def test_test_connection_reports_a_wrong_password_and_saves_nothing(
        app: Flask, as_admin: FlaskClient, imap: ImapAccount,
        dovecot: DovecotServer) -> None:
    stored = make_mailbox(imap, name="sales")
    other = make_mailbox(new_account(dovecot), name="other", address="other@helpdesk.test")
    url = f"/console/mailboxes/{stored.id}"

    page = post_form(as_admin, url, url, _fields(
        imap, password="wrong-password", save="", test="1")).text

    assert 'class="flash error connection-test"' in page
    assert "Connection failed" in page and "LoginError" in page
    assert _mailbox().imap_password == imap.password
    # One mailbox's failure is its own: the other one is untouched and still reads mail.
    assert _mailbox("other").last_error is None
    assert poll_mailbox(other.id) == 0


def test_test_connection_with_the_stored_password_logs_in_and_opens_the_folder(
        app: Flask, as_admin: FlaskClient, imap: ImapAccount) -> None:
    stored = make_mailbox(imap, name="sales")
    url = f"/console/mailboxes/{stored.id}"

    page = post_form(as_admin, url, url, _fields(imap, password="", save="", test="1")).text
    missing = post_form(as_admin, url, url, _fields(
        imap, password="", imap_folder="No such folder", save="", test="1")).text

    assert "Connection works" in page
    assert "Connection failed" in missing
    assert _mailbox().imap_folder == "INBOX"


def test_disabling_a_mailbox_stops_reading_it_and_enabling_resumes(
        app: Flask, as_admin: FlaskClient, mailbox: Mailbox) -> None:
    url = f"/console/mailboxes/{mailbox.id}"
    toggle = f"{url}/active"

    post_form(as_admin, url, toggle, {})
    disabled = _mailbox("support").active
    listing = as_admin.get("/console/mailboxes").text
    post_form(as_admin, url, toggle, {})

    assert disabled is False and "inactive" in listing
    assert _mailbox("support").active is True
