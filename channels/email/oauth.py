"""XOAUTH2 for IMAP: keeping a mailbox's OAuth 2 access token fresh.

Microsoft 365 and Gmail no longer take passwords over IMAP. An admin grants us a refresh
token once; we trade it for short-lived access tokens at the provider's token endpoint
(RFC 6749 §6) when the current one is about to expire or the server rejects it. A refused
refresh (the grant was revoked, the user changed their password) is an
:class:`OAuthGrantRefused`: only that mailbox stops, marked as needing a new grant.

A refresh is one form POST answered with JSON; an OAuth client library would add a
dependency for those ten lines. It goes through the guarded HTTP client: the token URL is
typed in by an admin, so it must not reach into our own network or follow redirects.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from flask import current_app

from channels.email.models import Mailbox
from helpdesk.db import utcnow
from helpdesk.outbound_http import DestinationRefused, guarded_client

#: Refresh this long before the expiry the provider gave, so a token never dies mid-login.
EXPIRY_MARGIN = timedelta(seconds=60)
TOKEN_TIMEOUT_SECONDS = 30


class OAuthGrantRefused(Exception):
    """The token endpoint refused the refresh token: an admin must grant access again."""


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    expires_in: int
    #: Providers may rotate the refresh token on use (RFC 6749 §6); keep the new one.
    refresh_token: str | None


def access_token(mailbox: Mailbox, *, force_refresh: bool = False) -> str:
    """A valid access token for ``mailbox``, refreshed (and stored on it) when needed.

    ``force_refresh``: the server rejected the stored token before its expiry (revoked or a
    skewed clock). The caller's unit of work commits the new token, so other processes reuse
    it instead of refreshing again.
    """
    expires_at = mailbox.oauth_expires_at
    if (not force_refresh and mailbox.oauth_access_token and expires_at is not None
            and expires_at - EXPIRY_MARGIN > utcnow()):
        return mailbox.oauth_access_token
    if not (mailbox.oauth_token_url and mailbox.oauth_client_id and mailbox.oauth_refresh_token):
        raise OAuthGrantRefused("the mailbox has no OAuth grant; add one")
    fresh = refresh_access_token(mailbox.oauth_token_url, mailbox.oauth_client_id,
                                 mailbox.oauth_client_secret or "", mailbox.oauth_refresh_token)
    mailbox.oauth_access_token = fresh.token
    mailbox.oauth_expires_at = utcnow() + timedelta(seconds=fresh.expires_in)
    if fresh.refresh_token:
        mailbox.oauth_refresh_token = fresh.refresh_token
    return fresh.token


def refresh_access_token(token_url: str, client_id: str, client_secret: str,
                         refresh_token: str) -> AccessToken:
    """Trade ``refresh_token`` for an access token (RFC 6749 §6).

    Raises :class:`OAuthGrantRefused` when the endpoint answers with an OAuth error (§5.2)
    or is not an endpoint we may call, and ``OSError`` when it cannot be reached (a transient
    failure, retried later).
    """
    check_token_url(token_url)
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": client_id, "client_secret": client_secret}
    try:
        with guarded_client(current_app.config, TOKEN_TIMEOUT_SECONDS) as client:
            response = client.post(token_url, data=form, headers={"Accept": "application/json"})
    except DestinationRefused as error:
        raise OAuthGrantRefused(f"the token endpoint is not allowed: {error}") from error
    except httpx.TransportError as error:
        raise OSError(f"token endpoint unreachable: {error}") from error
    if response.status_code in (400, 401):
        raise OAuthGrantRefused(_describe_error(response))
    if response.status_code != 200:
        raise OSError(f"token endpoint answered HTTP {response.status_code}")
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise OAuthGrantRefused("the token endpoint answered without an access_token")
    return AccessToken(token=body["access_token"], expires_in=int(body.get("expires_in", 3600)),
                       refresh_token=body.get("refresh_token"))


def check_token_url(token_url: str) -> None:
    """Secrets go only over TLS; plain http is allowed for a token endpoint on this machine.
    Raises :class:`OAuthGrantRefused` for any other URL."""
    url = urllib.parse.urlsplit(token_url)
    if url.scheme == "https":
        return
    if url.scheme == "http" and is_loopback(url.hostname or ""):
        return
    raise OAuthGrantRefused(f"the token endpoint must use https: {token_url!r}")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _describe_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = body.get("error", f"HTTP {response.status_code}")
    description = body.get("error_description")
    return f"{code}: {description}" if description else str(code)
