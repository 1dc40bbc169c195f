"""Mailbox and blocked-sender writes. They flush and never commit; the caller's unit of work
does. The rules a mailbox's settings must meet live here alone: the console's forms and
``flask mailbox add`` both go through :func:`configure_mailbox`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from channels.email.addresses import block_pattern, normalize_address
from channels.email.models import AUTH_METHODS, IMAP_SECURITY, BlockedSender, Mailbox
from channels.email.oauth import OAuthGrantRefused, check_token_url, is_loopback
from helpdesk.auth.models import Agent
from helpdesk.db import db
from helpdesk.teams.models import Team


class InvalidMailbox(ValueError):
    """Mailbox settings that cannot work (bad address, duplicate name, plain IMAP to another
    machine). ``field`` names the setting at fault, so a form shows the error next to it."""

    def __init__(self, message: str, field: str = "name") -> None:
        super().__init__(message)
        self.field = field


class InvalidBlockedSender(ValueError):
    """A blocked-sender pattern that is neither an address nor ``@domain``, or a repeat."""


@dataclass(frozen=True, slots=True)
class OAuthGrant:
    """What an admin gets from the mail provider for XOAUTH2 (RFC 6749 refresh grant)."""

    token_url: str
    client_id: str
    client_secret: str
    refresh_token: str


@dataclass(frozen=True, slots=True)
class MailboxSettings:
    """What an admin sets on a mailbox. Blank secrets (``imap_password``, the grant's client
    secret and refresh token) keep the mailbox's current ones."""

    name: str
    address: str
    imap_host: str
    imap_port: int
    imap_username: str
    imap_folder: str = "INBOX"
    imap_security: str = "tls"
    team: Team | None = None
    auth_method: str = "password"
    imap_password: str = ""
    oauth: OAuthGrant | None = None


def add_mailbox(*, name: str, address: str, imap_host: str, imap_port: int,
                imap_username: str, imap_password: str = "", imap_folder: str = "INBOX",
                imap_security: str = "tls", oauth: OAuthGrant | None = None,
                team: Team | None = None) -> Mailbox:
    """Add a mailbox to read: with a password, or with ``oauth`` for XOAUTH2.

    Its first fetch takes in everything already in the folder.
    """
    return create_mailbox(MailboxSettings(
        name=name, address=address, imap_host=imap_host, imap_port=imap_port,
        imap_username=imap_username, imap_folder=imap_folder, imap_security=imap_security,
        team=team, auth_method="xoauth2" if oauth else "password",
        imap_password=imap_password, oauth=oauth))


def create_mailbox(settings: MailboxSettings) -> Mailbox:
    """:func:`add_mailbox` for settings a form gathered."""
    mailbox = Mailbox(active=True, last_uid=0, imap_password="")
    configure_mailbox(mailbox, settings)
    db.session.add(mailbox)
    db.session.flush()
    return mailbox


def update_mailbox(mailbox: Mailbox, settings: MailboxSettings) -> None:
    """Change a mailbox's settings (checked by :func:`configure_mailbox`)."""
    configure_mailbox(mailbox, settings)
    db.session.flush()


def configure_mailbox(mailbox: Mailbox, settings: MailboxSettings) -> None:
    """Check ``settings`` and set them on ``mailbox``, which need not be in the session (a
    connection test runs on an unsaved copy). Raises :class:`InvalidMailbox`."""
    name, host = settings.name.strip(), settings.imap_host.strip()
    username, folder = settings.imap_username.strip(), settings.imap_folder.strip() or "INBOX"
    port, security = settings.imap_port, settings.imap_security
    normalised = normalize_address(settings.address)
    if not name:
        raise InvalidMailbox("a mailbox needs a name", "name")
    if normalised is None:
        raise InvalidMailbox(f"not a valid email address: {settings.address!r}", "address")
    if not host:
        raise InvalidMailbox("the IMAP server's host name is missing", "imap_host")
    if not 0 < port < 65536:
        raise InvalidMailbox("a port is a number from 1 to 65535", "imap_port")
    if security not in IMAP_SECURITY:
        raise InvalidMailbox(f"security must be one of {', '.join(IMAP_SECURITY)}",
                             "imap_security")
    if security == "none" and not is_loopback(host):
        # The password would cross the network in clear.
        raise InvalidMailbox("plain IMAP is accepted only for a server on this machine; "
                             "use TLS or STARTTLS", "imap_security")
    if not username:
        raise InvalidMailbox("the IMAP login is missing", "imap_username")
    with db.session.no_autoflush:
        taken = db.session.scalar(select(Mailbox.id).where(Mailbox.name == name))
    if taken is not None and taken != mailbox.id:
        raise InvalidMailbox(f"a mailbox named {name!r} already exists", "name")
    _set_credentials(mailbox, settings.auth_method, settings.imap_password, settings.oauth)
    if (mailbox.imap_host, mailbox.imap_port, mailbox.imap_username,
            mailbox.imap_folder) != (host, port, username, folder):
        # Another server or folder: our cursor (UIDVALIDITY + last UID) means nothing there.
        mailbox.uidvalidity, mailbox.last_uid = None, 0
    mailbox.name, mailbox.address, mailbox.imap_host = name, normalised, host
    mailbox.imap_port, mailbox.imap_security = port, security
    mailbox.imap_username, mailbox.imap_folder, mailbox.team = username, folder, settings.team


def _set_credentials(mailbox: Mailbox, auth_method: str, password: str,
                     oauth: OAuthGrant | None) -> None:
    if auth_method not in AUTH_METHODS:
        raise InvalidMailbox(f"sign-in must be one of {', '.join(AUTH_METHODS)}", "auth_method")
    if auth_method == "password":
        if not (password or (mailbox.auth_method == "password" and mailbox.imap_password)):
            raise InvalidMailbox("a mailbox needs a password or an OAuth grant", "password")
        mailbox.imap_password = password or mailbox.imap_password
        mailbox.oauth_token_url = mailbox.oauth_client_id = mailbox.oauth_client_secret = None
        mailbox.oauth_refresh_token = mailbox.oauth_access_token = None
        mailbox.oauth_expires_at = None
        mailbox.auth_method = "password"
        return
    if oauth is None or not oauth.token_url.strip():
        raise InvalidMailbox("XOAUTH2 needs the provider's token URL", "oauth_token_url")
    try:
        check_token_url(oauth.token_url.strip())
    except OAuthGrantRefused as error:
        raise InvalidMailbox(str(error), "oauth_token_url") from error
    if not oauth.client_id.strip():
        raise InvalidMailbox("XOAUTH2 needs a client id", "oauth_client_id")
    was_oauth = mailbox.auth_method == "xoauth2"
    refresh_token = oauth.refresh_token or (mailbox.oauth_refresh_token if was_oauth else None)
    if not refresh_token:
        raise InvalidMailbox("XOAUTH2 needs a refresh token", "oauth_refresh_token")
    client_secret = oauth.client_secret or (mailbox.oauth_client_secret if was_oauth else "")
    grant = (oauth.token_url.strip(), oauth.client_id.strip(), client_secret, refresh_token)
    if (mailbox.oauth_token_url, mailbox.oauth_client_id, mailbox.oauth_client_secret,
            mailbox.oauth_refresh_token) != grant:
        # An access token of the old grant may belong to another client or account.
        mailbox.oauth_access_token, mailbox.oauth_expires_at = None, None
    (mailbox.oauth_token_url, mailbox.oauth_client_id, mailbox.oauth_client_secret,
     mailbox.oauth_refresh_token) = grant
    mailbox.imap_password = ""
    mailbox.auth_method = "xoauth2"


def set_mailbox_active(mailbox: Mailbox, active: bool) -> None:
    """Start or stop reading a mailbox; its cursor is kept, so nothing is fetched twice."""
    mailbox.active = active
    db.session.flush()


def block_sender(pattern: str, *, note: str = "", by: Agent | None = None) -> BlockedSender:
    """Block mail from an address or a whole ``@domain``: vetting drops it from the next
    mail on (the rule hit says which entry matched)."""
    normalised = block_pattern(pattern)
    if normalised is None:
        raise InvalidBlockedSender(
            f"{pattern.strip()!r} is neither an email address nor a domain written as "
            "@example.com")
    with db.session.no_autoflush:
        if db.session.scalar(select(BlockedSender.id).where(
                BlockedSender.pattern == normalised)) is not None:
            raise InvalidBlockedSender(f"{normalised} is already blocked")
    blocked = BlockedSender(pattern=normalised, note=note.strip()[:500], created_by=by)
    db.session.add(blocked)
    db.session.flush()
    return blocked


def unblock_sender(blocked: BlockedSender) -> None:
    """Accept mail from the sender again (mail set aside meanwhile can be re-ingested)."""
    db.session.delete(blocked)
    db.session.flush()
