"""Opening an IMAP session for a mailbox: TLS, STARTTLS or (loopback only) plain; password
or XOAUTH2 login."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from channels.email import oauth
from channels.email.models import Mailbox

IMAP_TIMEOUT_SECONDS = 60


class InsecureConnection(Exception):
    """Plain IMAP to another machine would send the password in clear: refused."""


@contextmanager
def connect(mailbox: Mailbox, *, timeout: float = IMAP_TIMEOUT_SECONDS) -> Iterator[IMAPClient]:
    """A logged-in IMAP session for ``mailbox``, logged out on exit.

    An XOAUTH2 mailbox may get a new access token stored on it (see :mod:`oauth`); the
    caller commits it.
    """
    security = mailbox.imap_security
    if security == "none" and not oauth.is_loopback(mailbox.imap_host):
        raise InsecureConnection(f"plain IMAP to {mailbox.imap_host} is refused; use TLS")
    context = _tls_context()
    client = IMAPClient(mailbox.imap_host, port=mailbox.imap_port, ssl=security == "tls",
                        ssl_context=context, timeout=timeout)
    try:
        if security == "starttls":
            client.starttls(context)
        _login(client, mailbox)
        yield client
    finally:
        try:
            client.logout()
        except Exception:
            # The connection may already be gone (a failed TLS handshake closes it); closing
            # must never hide the error that brought us here.
            with contextlib.suppress(OSError):
                client.shutdown()


def _tls_context() -> ssl.SSLContext:
    # A private CA (a company mail server) can be trusted without trusting it system-wide.
    return ssl.create_default_context(cafile=current_app.config["IMAP_CA_FILE"] or None)


def _login(client: IMAPClient, mailbox: Mailbox) -> None:
    if mailbox.auth_method != "xoauth2":
        client.login(mailbox.imap_username, mailbox.imap_password)
        return
    try:
        client.oauth2_login(mailbox.imap_username, oauth.access_token(mailbox))
    except LoginError:
        # Rejected before its expiry (revoked early, clock skew): one fresh token, one retry.
        client.oauth2_login(mailbox.imap_username,
                            oauth.access_token(mailbox, force_refresh=True))


#: A connection test waits at most this long for the server: an admin is watching the page.
CHECK_TIMEOUT_SECONDS = 15


def check_connection(mailbox: Mailbox) -> str | None:
    """Log in to ``mailbox`` and select its folder read-only; the failure in words, or
    ``None`` when it all worked. Touches no other mailbox and stores nothing."""
    try:
        with connect(mailbox, timeout=CHECK_TIMEOUT_SECONDS) as client:
            client.select_folder(mailbox.imap_folder, readonly=True)
    except Exception as error:  # whatever broke (DNS, TLS, login, folder) is the answer
        return f"{type(error).__name__}: {error}"
    return None
