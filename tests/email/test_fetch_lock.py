"""One fetcher per mailbox: the Redis lock and the embedded-mode lease."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from channels.email import poller
from channels.email.locks import LeaseMailboxLock, RedisMailboxLock, mailbox_lock
from channels.email.models import Mailbox, RawEmail
from channels.email.poller import poll_mailbox
from helpdesk.db import db
from tests.conftest import app_with_schema
from tests.email.conftest import ImapAccount, customer_mail, make_mailbox
from tests.services import RedisServer, SmtpSink


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(params=["lease", "redis"])
def locked_app(request: pytest.FixtureRequest, tmp_path: Path,
               smtp_sink: SmtpSink) -> Iterator[Flask]:
    """An app whose fetch lock is a lease row (no Redis) or a Redis lock; jobs eager."""
    redis_url = None
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        server.flushall()  # every test's first mailbox has id 1
        redis_url = server.url
    with app_with_schema(f"sqlite:///{tmp_path / 'helpdesk.sqlite'}", tmp_path, smtp_sink,
                         REDIS_URL=redis_url, MAIL_LOCK_SECONDS=30) as app:
        yield app


def test_lock_kind_follows_configuration(locked_app: Flask) -> None:
    expected = RedisMailboxLock if locked_app.config["REDIS_URL"] else LeaseMailboxLock
    assert isinstance(mailbox_lock(1), expected)


def test_second_holder_is_refused_until_the_first_releases(
        locked_app: Flask, imap: ImapAccount) -> None:
    mailbox = make_mailbox(imap)
    first, second = mailbox_lock(mailbox.id), mailbox_lock(mailbox.id)

    assert first.acquire()
    assert not second.acquire()
    assert first.renew()
    assert not second.renew()  # renewing needs our own token
    first.release()
    assert second.acquire()
    assert not first.renew()  # the lapsed holder learns it lost the lock


def test_lapsed_lock_is_taken_over(locked_app: Flask, imap: ImapAccount) -> None:
    locked_app.config["MAIL_LOCK_SECONDS"] = 0.2
    mailbox = make_mailbox(imap)
    crashed = mailbox_lock(mailbox.id)
    assert crashed.acquire()  # and its holder is never heard of again

    taker = mailbox_lock(mailbox.id)
    threading.Event().wait(0.5)

    assert taker.acquire()
    assert not crashed.renew()


def test_poll_backs_off_without_touching_the_server_while_another_poller_holds_the_lock(
        locked_app: Flask, imap: ImapAccount) -> None:
    mailbox = make_mailbox(imap)
    imap.deliver(customer_mail())
    holder = mailbox_lock(mailbox.id)
    assert holder.acquire()

    assert poll_mailbox(mailbox.id) == 0

    assert db.session.scalar(select(func.count(RawEmail.id))) == 0
    assert b"\\Seen" not in imap.flags()[1]  # not even flagged
    holder.release()
    assert poll_mailbox(mailbox.id) == 1


def test_two_pollers_racing_store_each_mail_once_and_the_loser_backs_off(
        locked_app: Flask, imap: ImapAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    mailbox = make_mailbox(imap)
    for number in range(6):
        imap.deliver(customer_mail(subject=f"Race {number}"))
    # Hold the winner inside its fetch until the loser has tried, so they truly overlap.
    inside, loser_done = threading.Event(), threading.Event()
    real_fetch = poller.fetch_new_mail

    def slow_fetch(*args: object) -> int:
        inside.set()
        loser_done.wait(10)
        return real_fetch(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(poller, "fetch_new_mail", slow_fetch)
    results: dict[str, int] = {}

    def run(name: str) -> None:
        with locked_app.app_context():
            results[name] = poll_mailbox(mailbox.id)
            db.session.remove()

    winner = threading.Thread(target=run, args=("winner",))
    winner.start()
    assert inside.wait(10)
    run("loser")
    loser_done.set()
    winner.join(20)

    assert results == {"winner": 6, "loser": 0}
    uids = list(db.session.scalars(select(RawEmail.uid).order_by(RawEmail.uid)))
    assert uids == [1, 2, 3, 4, 5, 6]
    db.session.expire_all()
    assert db.session.get(Mailbox, mailbox.id).last_uid == 6  # type: ignore[union-attr]
