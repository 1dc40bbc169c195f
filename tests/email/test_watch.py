"""Push intake: IMAP IDLE watchers against the real Dovecot."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.parser import BytesParser
from email.policy import default
from typing import Any

import pytest
from flask import Flask
from imapclient import IMAPClient
from sqlalchemy import select

from channels.email.models import Mailbox, RawEmail
from channels.email.watch import MailboxWatcher, WatchSupervisor, reconnect_delay, start_watching
from helpdesk.db import db
from helpdesk.jobs import embedded_services
from tests.email.conftest import ImapAccount, customer_mail, make_mailbox, new_account


def wait_until(condition: Callable[[], bool], timeout: float = 20) -> None:
    """Wait for something a background thread does; fail (not time) if it never happens."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the watcher never got there")
        time.sleep(0.05)


def _subjects() -> list[str]:
    """Subjects of the mail fetched so far (what the watcher is for; ingest is tested
    elsewhere)."""
    db.session.rollback()  # see the watcher's commits
    raws = db.session.scalars(select(RawEmail.raw).order_by(RawEmail.uid))
    return [BytesParser(policy=default).parsebytes(raw)["Subject"] for raw in raws]


def _mailbox(mailbox_id: int) -> Mailbox:
    db.session.rollback()
    mailbox = db.session.get(Mailbox, mailbox_id)
    assert mailbox is not None
    db.session.refresh(mailbox)
    return mailbox


@contextmanager
def watching(app: Flask, mailbox_id: int) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=MailboxWatcher(app, mailbox_id, stop).run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive()


@pytest.fixture
def push_app(app: Flask) -> Flask:
    # No periodic poll during these tests: anything fetched came by push.
    app.config.update(MAIL_POLL_SECONDS=3600, MAIL_LOCK_SECONDS=3)
    return app


def test_watcher_fetches_mail_the_server_pushes_over_idle(
        push_app: Flask, imap: ImapAccount) -> None:
    mailbox = make_mailbox(imap)
    imap.deliver(customer_mail(subject="Already waiting"))
    with watching(push_app, mailbox.id):
        wait_until(lambda: _mailbox(mailbox.id).connection_state == "idle")
        assert _subjects() == ["Already waiting"]

        imap.deliver(customer_mail(subject="Pushed"))

        wait_until(lambda: _subjects() == ["Already waiting", "Pushed"])
    assert _mailbox(mailbox.id).connection_state == "stopped"


def test_idle_is_reissued_before_the_server_timeout_and_mail_still_arrives(
        push_app: Flask, imap: ImapAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    push_app.config["MAIL_IDLE_SECONDS"] = 0.5
    issued: list[float] = []
    real_idle = IMAPClient.idle

    def counting_idle(self: IMAPClient) -> Any:
        issued.append(time.monotonic())
        return real_idle(self)

    monkeypatch.setattr(IMAPClient, "idle", counting_idle)
    mailbox = make_mailbox(imap)
    with watching(push_app, mailbox.id):
        wait_until(lambda: len(issued) >= 3)
        imap.deliver(customer_mail(subject="After re-issues"))
        wait_until(lambda: _subjects() == ["After re-issues"])


def test_server_without_idle_is_polled_on_the_open_session(
        push_app: Flask, imap: ImapAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    push_app.config["MAIL_POLL_SECONDS"] = 0.3
    real_capabilities = IMAPClient.capabilities

    def without_idle(self: IMAPClient) -> tuple[bytes, ...]:
        return tuple(c for c in real_capabilities(self) if c != b"IDLE")

    monkeypatch.setattr(IMAPClient, "capabilities", without_idle)
    mailbox = make_mailbox(imap)
    with watching(push_app, mailbox.id):
        wait_until(lambda: _mailbox(mailbox.id).connection_state == "polling")
        imap.deliver(customer_mail(subject="Found by polling"))
        wait_until(lambda: _subjects() == ["Found by polling"])


def test_watcher_records_a_failure_and_reconnects_once_it_can(
        push_app: Flask, imap: ImapAccount) -> None:
    mailbox = make_mailbox(imap, password="wrong")
    imap.deliver(customer_mail(subject="Waits for the right password"))
    with watching(push_app, mailbox.id):
        wait_until(lambda: _mailbox(mailbox.id).connection_state == "reconnecting")
        failed = _mailbox(mailbox.id)
        assert failed.last_error is not None and "wrong" not in failed.last_error
        failed.imap_password = imap.password  # the admin fixes it
        db.session.commit()

        wait_until(lambda: _subjects() == ["Waits for the right password"])
        wait_until(lambda: _mailbox(mailbox.id).last_error is None)


def test_a_failing_mailbox_does_not_stop_the_others_being_watched(
        push_app: Flask, imap: ImapAccount) -> None:
    other = new_account(imap.server)
    broken = make_mailbox(other, name="broken", address="broken@helpdesk.test", password="bad")
    healthy = make_mailbox(imap)
    supervisor = WatchSupervisor(push_app)
    thread = supervisor.start()
    try:
        wait_until(lambda: _mailbox(healthy.id).connection_state == "idle")
        imap.deliver(customer_mail(subject="Healthy mailbox"))
        wait_until(lambda: _subjects() == ["Healthy mailbox"])
        assert _mailbox(broken.id).last_error is not None
    finally:
        supervisor.stop.set()
        thread.join(30)


def test_reconnect_delay_grows_exponentially_with_jitter_up_to_a_ceiling() -> None:
    for failures, ceiling in ((1, 300), (4, 300), (20, 300)):
        expected = min(ceiling, 2 ** (failures - 1))
        delays = [reconnect_delay(failures, ceiling) for _ in range(50)]
        assert all(expected / 2 <= delay <= expected for delay in delays)
        assert len(set(delays)) > 1


def test_flask_serve_starts_the_watchers_in_embedded_mode(app: Flask) -> None:
    assert start_watching in embedded_services(app)
