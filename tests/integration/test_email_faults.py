"""Fault injection: SIGKILL the mailbox watcher and the rq workers at random moments while
1,000 mails arrive; afterwards every mail is on exactly one ticket, none lost, none twice.

Everything is real and separate: Dovecot, Redis, PostgreSQL, ``flask mailbox watch`` and
two ``rq worker`` processes, each killed with its whole process group (an rq work horse
included), mid-fetch or mid-job, and started again as a supervisor would.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from redis import Redis
from rq import Queue
from sqlalchemy import func, select

from channels.email.models import RawEmail
from channels.email.tasks import resume_ingest
from helpdesk.app import create_app
from helpdesk.db import db
from helpdesk.tickets.models import Message, Ticket
from tests.email.conftest import customer_mail
from tests.integration.email_stack import IntakeStack, Process
from tests.services import DovecotServer, PostgresServer, RedisServer, SmtpSink

MAILS = 1000
SEED = 20261122


@pytest.fixture
def stack(tmp_path: Path, postgres: PostgresServer, smtp_sink: SmtpSink,
          ) -> Iterator[tuple[IntakeStack, DovecotServer, Flask]]:
    with RedisServer(tmp_path / "redis") as redis_server, \
            DovecotServer(tmp_path / "dovecot") as dovecot:
        dovecot.add_user("support", "support-password")
        # A killed watcher's lock lapses after 3 s, so its restart takes over quickly.
        stack = IntakeStack(tmp_path, postgres.create_database(), redis_server.url,
                            (smtp_sink.host, smtp_sink.port), MAIL_LOCK_SECONDS="3",
                            MAIL_POLL_SECONDS="3600")
        stack.migrate()
        stack.add_mailbox(dovecot.host, dovecot.port, "support", "support-password")
        app = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI":
                          stack.env["HELPDESK_DATABASE_URL"], "REDIS_URL": redis_server.url,
                          "JOBS_MODE": "rq", "MAIL_SWEEP_AFTER_SECONDS": 0})
        try:
            with app.app_context():
                yield stack, dovecot, app
                db.engine.dispose()
        finally:
            stack.stop_all()


def _append_all(dovecot: DovecotServer) -> None:
    client = dovecot.connect("support", "support-password")
    try:
        for number in range(MAILS):
            client.append("INBOX", customer_mail(
                subject=f"Fault {number:04d}", body=f"Mail number {number}.",
                sender=f"Customer {number} <customer-{number}@customer.test>",
                to="support@helpdesk.example"))
            time.sleep(0.004)  # spread the arrivals over the kills
    finally:
        client.logout()


def _count(status: str | None = None) -> int:
    db.session.rollback()
    query = select(func.count(RawEmail.id))
    if status is not None:
        query = query.where(RawEmail.status == status)
    return db.session.scalar(query) or 0


def test_killing_watcher_and_workers_at_random_loses_and_duplicates_nothing(
        stack: tuple[IntakeStack, DovecotServer, Flask]) -> None:
    intake, dovecot, app = stack
    rng = random.Random(SEED)
    processes: dict[str, Process] = {"watcher": intake.watcher(), "worker-0": intake.worker(0),
                                     "worker-1": intake.worker(1)}
    appender = threading.Thread(target=_append_all, args=(dovecot,))
    appender.start()
    kills: list[str] = []
    # Alternate the kind of victim so both are hit; the moment and the worker are random.
    while appender.is_alive() or len(kills) < 8:
        time.sleep(rng.uniform(0.2, 1.0))
        victim = "watcher" if len(kills) % 2 == 0 else rng.choice(["worker-0", "worker-1"])
        processes[victim].kill()
        kills.append(victim)
        number = len(kills)
        processes[victim] = (intake.watcher(number) if victim == "watcher"
                             else intake.worker(number))
    appender.join()

    # Work whose job died with a process is picked up by the sweep (periodic in production).
    inbound = Queue("inbound", connection=Redis.from_url(app.config["REDIS_URL"]))
    deadline = time.monotonic() + 150
    while not (_count() == MAILS and _count("new") == 0):
        assert time.monotonic() < deadline, (
            f"stuck: {_count()} stored, {_count('new')} waiting; logs in {intake.directory}")
        if len(inbound) == 0 and _count("new"):
            resume_ingest()
            db.session.commit()
        time.sleep(1)

    assert kills.count("watcher") >= 4 and len(kills) >= 8
    assert _count("ingested") == MAILS
    db.session.rollback()
    subjects = db.session.execute(
        select(Ticket.subject, func.count(Ticket.id)).group_by(Ticket.subject)).all()
    assert len(subjects) == MAILS
    assert {count for _, count in subjects} == {1}  # every mail on exactly one ticket
    assert {f"Fault {number:04d}" for number in range(MAILS)} == {s for s, _ in subjects}
    assert db.session.scalar(select(func.count(Message.id))) == MAILS  # and only once
    uids = db.session.scalars(select(RawEmail.uid)).all()
    assert sorted(uids) == list(range(1, MAILS + 1))
