"""Big mail, end to end against a real Dovecot: fetched in pieces into a file in storage,
parsed from the file, its attachment stored from a file, shown and downloaded without
loading it whole. The spool size is made small so a few hundred kilobytes count as big."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from imapclient import IMAPClient
from sqlalchemy import select

from channels.email import poller
from channels.email.models import Mailbox, RawEmail
from channels.email.parse import parse_message
from channels.email.poller import poll_mailbox
from helpdesk.auth.models import Agent
from helpdesk.db import db
from helpdesk.tickets import storage
from helpdesk.tickets.models import Attachment, Message
from tests.conftest import login
from tests.email.conftest import SUPPORT, ImapAccount, make_mailbox, new_account

PIECE = 16 * 1024
#: Big enough to pass spool.PART_THRESHOLD once base64-encoded.
PAYLOAD_BYTES = 400 * 1024


@pytest.fixture
def big_mail_app(any_db_app: Flask, monkeypatch: pytest.MonkeyPatch) -> Flask:
    any_db_app.config["MAIL_SPOOL_BYTES"] = 64 * 1024
    monkeypatch.setattr(poller, "FETCH_PIECE_BYTES", PIECE)
    return any_db_app


@pytest.fixture
def fetches(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[Any]]]:
    """The data items of every FETCH the poller sends (the server is real; this only
    listens)."""
    sent: list[list[Any]] = []
    real_fetch = IMAPClient.fetch

    def fetch(self: IMAPClient, messages: Any, data: Any, modifiers: Any = None) -> Any:
        sent.append(list(data))
        return real_fetch(self, messages, data, modifiers)

    monkeypatch.setattr(IMAPClient, "fetch", fetch)
    yield sent


def big_mail(payload: bytes, *, subject: str = "Scans attached") -> bytes:
    message = EmailMessage()
    message["From"] = "Alice Customer <alice@customer.test>"
    message["To"] = SUPPORT
    message["Subject"] = subject
    message["Message-ID"] = f"<{hashlib.sha256(payload).hexdigest()[:32]}@customer.test>"
    message.set_content("The scans you asked for.")
    message.add_attachment(payload, maintype="application", subtype="pdf", filename="scans.pdf")
    return message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _payload(seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(PAYLOAD_BYTES)


def _raw_emails() -> list[RawEmail]:
    db.session.expire_all()
    return list(db.session.scalars(select(RawEmail).order_by(RawEmail.id)))


def test_big_mail_is_fetched_in_pieces_into_a_stored_file_byte_for_byte(
        big_mail_app: Flask, imap: ImapAccount, fetches: list[list[Any]]) -> None:
    mailbox = make_mailbox(imap)
    sent = big_mail(_payload())
    imap.deliver(sent)

    poll_mailbox(mailbox.id)

    [raw_email] = _raw_emails()
    assert raw_email.raw is None and raw_email.raw_storage_name is not None
    assert storage.path_of(raw_email.raw_storage_name).read_bytes() == sent
    bodies = [item for data in fetches for item in data if str(item).startswith("BODY")]
    assert bodies and all(item.startswith("BODY.PEEK[]<") for item in bodies)
    assert all(item.endswith(f".{PIECE}>") for item in bodies)
    assert len(bodies) == len(sent) // PIECE + 1


def test_big_mail_keeps_the_pollers_promises(
        big_mail_app: Flask, imap: ImapAccount) -> None:
    mailbox = make_mailbox(imap)
    uid = imap.deliver(big_mail(_payload()))
    assert b"\\Seen" not in imap.flags()[uid]  # BODY.PEEK: not read by fetching

    assert poll_mailbox(mailbox.id) == 1
    assert b"\\Seen" in imap.flags()[uid]  # flagged once stored
    assert poll_mailbox(mailbox.id) == 0  # our cursor moved past it
    assert len(_raw_emails()) == 1
    assert list(storage.scratch_dir().iterdir()) == []


def test_big_mail_becomes_a_ticket_with_its_attachment_stored_from_a_file(
        big_mail_app: Flask, imap: ImapAccount) -> None:
    mailbox = make_mailbox(imap)
    payload = _payload()
    sent = big_mail(payload)
    imap.deliver(sent)

    poll_mailbox(mailbox.id)  # eager jobs: ingested on commit

    [raw_email] = _raw_emails()
    assert raw_email.status == "ingested"
    assert raw_email.content_sha256 == parse_message(sent).fingerprint
    message = db.session.scalars(select(Message).where(Message.ticket_id == raw_email.ticket_id)
                                 ).one()
    assert "The scans you asked for." in message.body_text
    [attachment] = db.session.scalars(select(Attachment)
                                      .where(Attachment.message_id == message.id)).all()
    assert (attachment.filename, attachment.size) == ("scans.pdf", len(payload))
    assert storage.path_of(attachment.storage_name).read_bytes() == payload
    assert list(storage.scratch_dir().iterdir()) == []


def test_one_big_mail_to_two_of_our_mailboxes_makes_one_ticket(
        big_mail_app: Flask, imap: ImapAccount) -> None:
    first = make_mailbox(imap)
    other_account = new_account(imap.server)
    second = make_mailbox(other_account, name="sales", address="sales@helpdesk.test")
    sent = big_mail(_payload())
    imap.deliver(sent)
    other_account.deliver(sent)

    poll_mailbox(first.id)
    poll_mailbox(second.id)

    original, copy = _raw_emails()
    assert (original.status, copy.status) == ("ingested", "duplicate")
    assert copy.duplicate_of_id == original.id and copy.ticket_id == original.ticket_id


def test_show_original_of_a_big_mail_shows_its_beginning_and_downloads_it_whole(
        app: Flask, client: FlaskClient, admin: Agent, imap: ImapAccount,
        monkeypatch: pytest.MonkeyPatch) -> None:
    app.config["MAIL_SPOOL_BYTES"] = 64 * 1024
    monkeypatch.setattr(poller, "FETCH_PIECE_BYTES", PIECE)
    mailbox: Mailbox = make_mailbox(imap)
    sent = big_mail(_payload(), subject="Show me the scans")
    imap.deliver(sent)
    poll_mailbox(mailbox.id)
    [raw_email] = _raw_emails()
    assert raw_email.raw_storage_name is not None
    login(client, admin.email)

    page = client.get(f"/console/mail/{raw_email.id}/original")
    download = client.get(f"/console/mail/{raw_email.id}.eml")

    assert page.status_code == 200
    assert "Show me the scans" in page.text
    assert "Only the beginning is shown" in page.text
    assert len(page.data) < len(sent) // 2
    assert download.status_code == 200
    assert download.mimetype == "message/rfc822"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["Cache-Control"] == "private, no-store"
    assert download.data == sent
