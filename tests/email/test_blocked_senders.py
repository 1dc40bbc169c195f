"""Blocked senders in the console: add an address or a whole domain, see who added it and
when, remove it, block the sender of mail set aside; their next mail is set aside."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from channels.email.addresses import block_pattern
from channels.email.models import BlockedSender, Mailbox, RawEmail
from channels.email.poller import poll_mailbox
from helpdesk.auth.models import Agent
from helpdesk.db import db
from helpdesk.tickets.models import Ticket
from tests.conftest import login, post_form
from tests.email.conftest import ImapAccount, customer_mail

PAGE = "/console/mail/blocked-senders"
SET_ASIDE = "/console/mail/set-aside"


@pytest.fixture
def as_admin(client: FlaskClient, admin: Agent) -> FlaskClient:
    login(client, admin.email)
    return client


def _patterns() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(BlockedSender.pattern).order_by(BlockedSender.id)))


@pytest.mark.parametrize(("text", "pattern"), [
    ("Spammer@Example.COM", "spammer@example.com"),
    (" @Spam.Example ", "@spam.example"),
    ("spam.example", None),
    ("@", None),
    ("@not a domain", None),
    ("someone@", None),
])
def test_block_patterns_are_an_address_or_an_at_domain(text: str, pattern: str | None) -> None:
    assert block_pattern(text) == pattern


def test_admin_blocks_an_address_and_a_domain_and_sees_who_and_when(
        app: Flask, as_admin: FlaskClient, admin: Agent) -> None:
    post_form(as_admin, PAGE, PAGE, {"pattern": "Spammer@Example.com", "note": "phishing"})
    post_form(as_admin, PAGE, PAGE, {"pattern": "@spam.example", "note": ""})

    page = as_admin.get(PAGE).text

    assert _patterns() == ["spammer@example.com", "@spam.example"]
    assert "<code>spammer@example.com</code>" in page and "phishing" in page
    assert page.count(admin.name) >= 2
    assert "<time datetime=" in page


@pytest.mark.parametrize(("pattern", "message"), [
    ("spam.example", "neither an email address nor a domain written as @example.com"),
    ("bad@@example.com", "neither an email address"),
])
def test_an_invalid_pattern_is_explained_next_to_the_field(
        app: Flask, as_admin: FlaskClient, pattern: str, message: str) -> None:
    page = post_form(as_admin, PAGE, PAGE, {"pattern": pattern}).text

    assert 'id="pattern-error"' in page and message in page
    assert _patterns() == []


def test_blocking_the_same_sender_twice_is_explained(
        app: Flask, as_admin: FlaskClient) -> None:
    post_form(as_admin, PAGE, PAGE, {"pattern": "@spam.example"})
    page = post_form(as_admin, PAGE, PAGE, {"pattern": "@SPAM.example"}).text

    assert 'id="pattern-error"' in page and "already blocked" in page
    assert _patterns() == ["@spam.example"]


def test_removing_a_block_accepts_the_sender_again(
        app: Flask, as_admin: FlaskClient) -> None:
    post_form(as_admin, PAGE, PAGE, {"pattern": "@spam.example"})
    [entry_id] = db.session.scalars(select(BlockedSender.id)).all()

    post_form(as_admin, PAGE, f"{PAGE}/{entry_id}/remove", {})

    assert _patterns() == []


def test_blocked_senders_next_mail_is_set_aside_with_the_rule_hit_shown(
        app: Flask, as_admin: FlaskClient, mailbox: Mailbox, imap: ImapAccount) -> None:
    post_form(as_admin, PAGE, PAGE, {"pattern": "@spam.example"})

    imap.deliver(customer_mail(sender="Winner <prize@spam.example>", subject="You won"))
    imap.deliver(customer_mail(sender="alice@customer.test", subject="Real question"))
    poll_mailbox(mailbox.id)

    page = as_admin.get(SET_ASIDE).text
    assert [ticket.subject for ticket in db.session.scalars(select(Ticket))] == [
        "Real question"]
    raw = db.session.scalars(select(RawEmail).where(RawEmail.status == "dropped")).one()
    assert f'id="raw-{raw.id}"' in page
    assert "<code>blocked-sender</code>" in page
    assert "prize@spam.example matches blocked sender @spam.example" in page


def test_block_sender_from_a_quarantined_mails_row(
        app: Flask, as_admin: FlaskClient, admin: Agent, mailbox: Mailbox,
        imap: ImapAccount) -> None:
    # A bounce that is not about our mail is quarantined for an admin to look at.
    imap.deliver(customer_mail(sender="MAILER-DAEMON@relay.example", subject="Undelivered",
                               extra_headers=[("Auto-Submitted", "auto-replied")]))
    poll_mailbox(mailbox.id)
    raw = db.session.scalars(select(RawEmail)).one()
    assert raw.status == "quarantined"
    assert f'action="/console/mail/{raw.id}/block-sender"' in as_admin.get(SET_ASIDE).text

    post_form(as_admin, SET_ASIDE, f"/console/mail/{raw.id}/block-sender", {})

    entry = db.session.scalars(select(BlockedSender)).one()
    assert (entry.pattern, entry.created_by_id) == ("mailer-daemon@relay.example", admin.id)
    imap.deliver(customer_mail(sender="MAILER-DAEMON@relay.example", subject="Again"))
    poll_mailbox(mailbox.id)
    latest = db.session.scalars(select(RawEmail).order_by(RawEmail.id.desc())).first()
    assert latest is not None and latest.status == "dropped"
    assert latest.hits is not None and "blocked-sender" in [hit["rule"] for hit in latest.hits]


def test_block_sender_is_for_admins_only(
        client: FlaskClient, agent: Agent, mailbox: Mailbox, imap: ImapAccount) -> None:
    imap.deliver(customer_mail(sender="x@spam.example"))
    poll_mailbox(mailbox.id)
    raw = db.session.scalars(select(RawEmail)).one()
    login(client, agent.email)

    assert client.post(f"/console/mail/{raw.id}/block-sender").status_code in (400, 403)
    assert _patterns() == []
