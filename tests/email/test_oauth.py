"""XOAUTH2 mailboxes against a real Dovecot that checks tokens at a local OAuth provider."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from channels.email.models import Mailbox
from channels.email.operations import OAuthGrant, add_mailbox
from channels.email.poller import poll_all, poll_mailbox
from helpdesk.db import db, utcnow
from helpdesk.tickets.models import Ticket
from tests.email.conftest import ImapAccount, customer_mail, make_mailbox, new_account
from tests.email.oauth_stub import OAuthDovecotServer, OAuthProvider, oauth_provider


@pytest.fixture(scope="module")
def provider() -> Iterator[OAuthProvider]:
    with oauth_provider() as provider:
        yield provider


@pytest.fixture(scope="module")
def oauth_dovecot(tmp_path_factory: pytest.TempPathFactory,
                  provider: OAuthProvider) -> Iterator[OAuthDovecotServer]:
    with OAuthDovecotServer(tmp_path_factory.mktemp("dovecot-oauth"),
                            f"{provider.url}/introspect") as server:
        yield server


@pytest.fixture
def account(oauth_dovecot: OAuthDovecotServer) -> ImapAccount:
    return new_account(oauth_dovecot)


def _oauth_mailbox(account: ImapAccount, provider: OAuthProvider, name: str = "oauth") -> Mailbox:
    grant = provider.grant(account.user)
    mailbox = add_mailbox(
        name=name, address=f"{name}@helpdesk.test", imap_host=account.server.host,
        imap_port=account.server.port, imap_security="none", imap_username=account.user,
        oauth=OAuthGrant(provider.token_url, grant.client_id, grant.client_secret,
                         grant.refresh_token))
    db.session.commit()
    return mailbox


def _subjects() -> list[str]:
    return list(db.session.scalars(select(Ticket.subject).order_by(Ticket.id)))


def test_xoauth2_mailbox_logs_in_with_a_refreshed_access_token_and_reuses_it(
        app: Flask, account: ImapAccount, provider: OAuthProvider) -> None:
    mailbox = _oauth_mailbox(account, provider)
    account.deliver(customer_mail(subject="Sent to an OAuth mailbox"))
    refreshes = provider.refreshes

    assert poll_mailbox(mailbox.id) == 1
    poll_mailbox(mailbox.id)

    assert _subjects() == ["Sent to an OAuth mailbox"]
    assert provider.refreshes == refreshes + 1  # the second poll reused the stored token
    db.session.refresh(mailbox)
    assert mailbox.oauth_access_token and mailbox.oauth_expires_at is not None
    assert mailbox.last_error is None


def test_expired_access_token_is_refreshed_before_login(
        app: Flask, account: ImapAccount, provider: OAuthProvider) -> None:
    mailbox = _oauth_mailbox(account, provider)
    poll_mailbox(mailbox.id)
    db.session.refresh(mailbox)
    old_token = mailbox.oauth_access_token
    mailbox.oauth_expires_at = utcnow() + timedelta(seconds=10)  # inside the safety margin
    db.session.commit()
    account.deliver(customer_mail(subject="After expiry"))

    assert poll_mailbox(mailbox.id) == 1

    db.session.refresh(mailbox)
    assert mailbox.oauth_access_token != old_token


def test_access_token_rejected_by_the_server_is_refreshed_once_and_login_retried(
        app: Flask, account: ImapAccount, provider: OAuthProvider) -> None:
    mailbox = _oauth_mailbox(account, provider)
    poll_mailbox(mailbox.id)
    provider.revoke_access_tokens()  # still unexpired on our side
    account.deliver(customer_mail(subject="After the provider rotated keys"))

    assert poll_mailbox(mailbox.id) == 1

    assert _subjects() == ["After the provider rotated keys"]


def test_revoked_grant_marks_only_that_mailbox_and_the_others_are_still_fetched(
        app: Flask, account: ImapAccount, provider: OAuthProvider,
        imap: ImapAccount) -> None:
    revoked = _oauth_mailbox(account, provider)
    provider.grants[revoked.oauth_refresh_token or ""].revoked = True
    healthy = make_mailbox(imap, name="password", address="password@helpdesk.test")
    account.deliver(customer_mail(subject="Stuck behind a revoked grant"))
    imap.deliver(customer_mail(subject="Arrives anyway"))

    poll_all()

    assert _subjects() == ["Arrives anyway"]
    db.session.refresh(revoked)
    db.session.refresh(healthy)
    assert revoked.last_error is not None and "invalid_grant" in revoked.last_error
    assert healthy.last_error is None and healthy.last_polled_at is not None
