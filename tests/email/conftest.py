"""Email channel fixtures: a real Dovecot IMAP server, a fresh IMAP account per test, and
helpers to write customer mail. The app, the SMTP sink and agents come from tests/conftest.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest
from flask import Flask

from channels.email.models import Mailbox
from channels.email.operations import add_mailbox
from helpdesk.db import db
from tests.services import DovecotServer

SUPPORT = "support@helpdesk.test"


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    with DovecotServer(tmp_path_factory.mktemp("dovecot")) as server:
        yield server


@dataclass(frozen=True)
class ImapAccount:
    """One IMAP login on the shared Dovecot, as a customer's mail server would fill it."""

    server: DovecotServer
    user: str
    password: str

    def deliver(self, raw: bytes, flags: Sequence[str] = ()) -> int | None:
        return self.server.append(self.user, self.password, raw, flags=flags)

    def flags(self) -> dict[int, tuple[bytes, ...]]:
        client = self.server.connect(self.user, self.password)
        try:
            client.select_folder("INBOX", readonly=True)
            return {uid: data[b"FLAGS"] for uid, data in
                    client.fetch(client.search("ALL"), ["FLAGS"]).items()}
        finally:
            client.logout()


def new_account(server: DovecotServer) -> ImapAccount:
    user, password = f"box-{secrets.token_hex(4)}", secrets.token_hex(8)
    server.add_user(user, password)
    return ImapAccount(server, user, password)


@pytest.fixture
def imap(dovecot: DovecotServer) -> ImapAccount:
    return new_account(dovecot)


def make_mailbox(account: ImapAccount, *, name: str = "support", address: str = SUPPORT,
                 password: str | None = None) -> Mailbox:
    mailbox = add_mailbox(name=name, address=address, imap_host=account.server.host,
                          imap_port=account.server.port, imap_security="none",
                          imap_username=account.user,
                          imap_password=password or account.password)
    db.session.commit()
    return mailbox


@pytest.fixture
def mailbox(app: Flask, imap: ImapAccount) -> Mailbox:
    return make_mailbox(imap)


def customer_mail(*, subject: str = "My order has not arrived", body: str = "Where is it?",
                  sender: str = "Alice Customer <alice@customer.test>", to: str = SUPPORT,
                  message_id: str | None = None, in_reply_to: str | None = None,
                  references: Sequence[str] = (), extra_headers: Sequence[tuple[str, str]] = (),
                  ) -> bytes:
    """A plain customer email as bytes (CRLF line ends, as IMAP servers store them)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id or make_msgid(domain="customer.test")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = " ".join(references)
    for name, value in extra_headers:
        message[name] = value
    message.set_content(body)
    return message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
