"""Two workers ingesting parts of one conversation at the same moment, on PostgreSQL (SQLite
admits one writer at a time, so there is no race to lose there).

The interleaving that misthreaded replies is forced, not hoped for: an early reply is
ingested but not yet committed; its parent's ingest starts beside it; the reply commits only
once the parent has looked for pending references (or is seen waiting for the reply's
conversation lock, which is what ingest does now).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select, text

from channels.email.ingest import ingest
from channels.email.models import RawEmail
from channels.email.tasks import ingest_batch
from helpdesk.db import db
from helpdesk.tickets.models import Message, Ticket
from tests.conftest import app_with_schema
from tests.email.conftest import customer_mail
from tests.email.understanding import mailbox
from tests.services import SmtpSink

ROOT, REPLY = "<root@customer.test>", "<reply@customer.test>"


@pytest.fixture
def pg_app(postgres_url: str, tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[Flask]:
    with app_with_schema(postgres_url, tmp_path, smtp_sink) as app:
        yield app


def _store(*raws: bytes) -> list[int]:
    box = mailbox()
    rows = [RawEmail(mailbox_id=box.id, uidvalidity=1, uid=uid, raw=raw, size=len(raw))
            for uid, raw in enumerate(raws, start=1)]
    db.session.add_all(rows)
    db.session.commit()
    return [row.id for row in rows]


def _waiting_for_advisory_lock() -> bool:
    with db.engine.connect() as connection:
        return bool(connection.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND wait_event = 'advisory' AND datname = current_database()")).scalar())


def test_parent_ingested_while_its_early_reply_commits_joins_the_replys_ticket(
        pg_app: Flask) -> None:
    root_id, reply_id = _store(
        customer_mail(subject="Printer", body="It jams.", message_id=ROOT),
        customer_mail(subject="Re: Printer", body="Still jams.", message_id=REPLY,
                      in_reply_to=ROOT, references=[ROOT]))
    reply_ingested, reply_may_commit, reply_committed = (threading.Event() for _ in range(3))
    parent_looked = threading.Event()
    errors: list[BaseException] = []

    def reply_worker() -> None:
        with pg_app.app_context():
            try:
                ingest(reply_id)
                reply_ingested.set()
                reply_may_commit.wait()
                db.session.commit()
            except BaseException as error:
                errors.append(error)
            finally:
                reply_committed.set()
                reply_may_commit.set()
                db.session.remove()

    def parent_worker() -> None:
        with pg_app.app_context():
            connection = db.session.connection()

            def after_execute(*args: Any) -> None:
                # The parent has just looked for mail that quoted it, and found none yet.
                if "seen IS false" in args[2] and not parent_looked.is_set():
                    parent_looked.set()
                    reply_committed.wait()

            event.listen(connection, "after_cursor_execute", after_execute)
            try:
                ingest_batch([root_id])
            except BaseException as error:
                errors.append(error)
            finally:
                parent_looked.set()
                db.session.remove()

    reply = threading.Thread(target=reply_worker)
    reply.start()
    reply_ingested.wait()
    parent = threading.Thread(target=parent_worker)
    parent.start()
    while not (parent_looked.is_set() or _waiting_for_advisory_lock()):
        parent_looked.wait(0.05)
    reply_may_commit.set()
    reply.join()
    parent.join()

    assert not errors
    tickets = {rfc_id: ticket_id for rfc_id, ticket_id in db.session.execute(
        select(Message.rfc_message_id, Message.ticket_id))}
    assert tickets[ROOT] == tickets[REPLY]
    assert db.session.scalar(select(Ticket.merged_into_id).where(
        Ticket.id == tickets[ROOT])) is None
    assert set(db.session.scalars(select(RawEmail.status))) == {"ingested"}
