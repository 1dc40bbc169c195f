"""Outbox mail committed by a batch job goes out in one delivery job over one SMTP
connection, each mail still marked (and retried) on its own."""

from __future__ import annotations

import smtplib
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from channels.email.models import Mailbox, OutboxEmail, RawEmail
from channels.email.send import deliver_batch
from channels.email.tasks import ingest_batch
from helpdesk.db import db
from tests.email.conftest import customer_mail
from tests.services import SmtpSink


@pytest.fixture
def smtp_connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each SMTP connection our code opens (the real connect runs; this only records)."""
    opened: list[str] = []
    connect = smtplib.SMTP.connect

    def recording_connect(self: smtplib.SMTP, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(args[0] if args else kwargs.get("host")))
        return connect(self, *args, **kwargs)

    monkeypatch.setattr(smtplib.SMTP, "connect", recording_connect)
    return opened


def _store(mailbox: Mailbox, mails: list[bytes]) -> list[int]:
    rows = [RawEmail(mailbox_id=mailbox.id, uidvalidity=1, uid=uid, raw=raw, size=len(raw))
            for uid, raw in enumerate(mails, start=1)]
    db.session.add_all(rows)
    db.session.commit()
    return [row.id for row in rows]


def _outbox() -> list[OutboxEmail]:
    return list(db.session.scalars(select(OutboxEmail).order_by(OutboxEmail.id)))


def test_acknowledgements_of_an_ingested_batch_share_one_smtp_connection(
        app: Flask, mailbox: Mailbox, smtp_sink: SmtpSink,
        smtp_connections: list[str]) -> None:
    senders = [f"customer{number}@customer.test" for number in range(5)]
    ids = _store(mailbox, [customer_mail(subject=f"Order {number}", sender=sender)
                           for number, sender in enumerate(senders)])

    ingest_batch(ids)

    assert sorted(rcpt for received in smtp_sink.wait_for(5)
                  for rcpt in received.rcpt_tos) == sorted(senders)
    assert len(smtp_connections) == 1
    assert [row.status for row in _outbox()] == ["sent"] * 5


def test_a_refused_recipient_fails_alone_and_the_rest_of_the_batch_is_sent(
        app: Flask, smtp_sink: SmtpSink, smtp_connections: list[str]) -> None:
    def outbox(to: str) -> OutboxEmail:
        return OutboxEmail(mail_from="support@helpdesk.test", to=to, subject="Hello",
                           message_id=f"<{to}.id@helpdesk.test>",
                           raw=b"Subject: Hello\r\n\r\nHi\r\n")
    rows = [outbox("first@customer.test"), outbox("two@at@customer.test"),
            outbox("third@customer.test")]
    db.session.add_all(rows)
    db.session.commit()
    ids = [row.id for row in rows]

    with pytest.raises(smtplib.SMTPRecipientsRefused):
        deliver_batch(ids)
    db.session.rollback()  # as the job runner does before a retry

    first, refused, third = (db.session.get(OutboxEmail, outbox_id) for outbox_id in ids)
    assert first is not None and refused is not None and third is not None
    assert (first.status, third.status) == ("sent", "sent")
    assert (refused.status, refused.attempts) == ("failed", 1)
    assert refused.next_attempt_at is not None and refused.last_error
    # The failed session is dropped; the mail after it is sent over a fresh one.
    assert len(smtp_connections) == 2

    with pytest.raises(smtplib.SMTPRecipientsRefused):
        deliver_batch(ids)  # the runner's retry: only the failed mail is tried again
    db.session.rollback()
    assert db.session.get(OutboxEmail, ids[1]).attempts == 2  # type: ignore[union-attr]
    assert sorted(rcpt for received in smtp_sink.messages for rcpt in received.rcpt_tos) == [
        "first@customer.test", "third@customer.test"]
