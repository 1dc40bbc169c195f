"""Mailbox writes. They flush and never commit; the caller's unit of work does."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from channels.email.addresses import normalize_address
from channels.email.models import IMAP_SECURITY, Mailbox
from helpdesk.db import db
from helpdesk.teams.models import Team


class InvalidMailbox(ValueError):
    """Mailbox settings that cannot work (bad address, duplicate name)."""


@dataclass(frozen=True, slots=True)
class OAuthGrant:
    """What an admin gets from the mail provider for XOAUTH2 (RFC 6749 refresh grant)."""

    token_url: str
    client_id: str
    client_secret: str
    refresh_token: str


def add_mailbox(*, name: str, address: str, imap_host: str, imap_port: int,
                imap_username: str, imap_password: str = "", imap_folder: str = "INBOX",
                imap_security: str = "tls", oauth: OAuthGrant | None = None,
                team: Team | None = None) -> Mailbox:
    """Add a mailbox to read: with a password, or with ``oauth`` for XOAUTH2.

    Its first fetch takes in everything already in the folder.
    """
    name = name.strip()
    normalised = normalize_address(address)
    if not name:
        raise InvalidMailbox("a mailbox needs a name")
    if imap_security not in IMAP_SECURITY:
        raise InvalidMailbox(f"security must be one of {', '.join(IMAP_SECURITY)}")
    if oauth is None and not imap_password:
        raise InvalidMailbox("a mailbox needs a password or an OAuth grant")
    if normalised is None:
        raise InvalidMailbox(f"not a valid email address: {address!r}")
    if db.session.scalar(select(Mailbox.id).where(Mailbox.name == name)) is not None:
        raise InvalidMailbox(f"a mailbox named {name!r} already exists")
    mailbox = Mailbox(name=name, address=normalised, imap_host=imap_host.strip(),
                      imap_port=imap_port, imap_security=imap_security,
                      imap_username=imap_username, imap_password=imap_password,
                      imap_folder=imap_folder or "INBOX", team=team, active=True, last_uid=0,
                      auth_method="xoauth2" if oauth else "password")
    if oauth is not None:
        mailbox.oauth_token_url = oauth.token_url
        mailbox.oauth_client_id = oauth.client_id
        mailbox.oauth_client_secret = oauth.client_secret
        mailbox.oauth_refresh_token = oauth.refresh_token
    db.session.add(mailbox)
    db.session.flush()
    return mailbox
