"""Push intake: a thread per mailbox holding an IMAP IDLE session (RFC 2177).

Mail is fetched seconds after it arrives instead of on the next poll. Each watcher holds its
mailbox's fetch lock for as long as it is connected, renewing it while it waits, so a second
watcher (or the periodic poll, kept as a safety net) backs off. IDLE is re-issued before
the server's inactivity timeout (``MAIL_IDLE_SECONDS``, RFC 2177 asks for at least every 29
minutes), and each re-issue fetches too, so nothing depends on the server's notices alone.
A server without IDLE is polled every ``MAIL_POLL_SECONDS`` on the open session instead.

Any error (network, login, a revoked OAuth grant) is recorded on the mailbox for admins and
followed by a reconnect after an exponential backoff with jitter; other mailboxes' watchers
are separate threads and do not notice. Run by ``flask mailbox watch`` in production and by
``flask serve`` in embedded mode.
"""

from __future__ import annotations

import logging
import random
import threading
import time

from flask import Flask
from imapclient import IMAPClient
from sqlalchemy import select

from channels.email.imap import connect
from channels.email.locks import MailboxLock, mailbox_lock
from channels.email.models import Mailbox
from channels.email.poller import LockLost, fetch_new_mail, record_failure
from helpdesk.db import db, utcnow

log = logging.getLogger(__name__)

#: How often a waiting watcher wakes to renew its lock and notice a stop request.
CHECK_SECONDS = 5.0
#: How often the supervisor looks for mailboxes added, removed, (de)activated or changed.
RESCAN_SECONDS = 30.0
RECONNECT_BASE_SECONDS = 1.0
#: A change to any of these restarts the mailbox's watcher. Not the OAuth refresh token:
#: providers rotate it on use, which is no reason to reconnect.
_CONNECTION_SETTINGS = (
    Mailbox.imap_host, Mailbox.imap_port, Mailbox.imap_security, Mailbox.imap_username,
    Mailbox.imap_folder, Mailbox.auth_method, Mailbox.imap_password, Mailbox.oauth_token_url,
    Mailbox.oauth_client_id, Mailbox.oauth_client_secret)


def reconnect_delay(failures: int, ceiling: float) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, so watchers that
    lost one server together do not reconnect in lockstep."""
    delay = min(ceiling, RECONNECT_BASE_SECONDS * 2 ** max(failures - 1, 0))
    return delay / 2 + random.uniform(0, delay / 2)


class MailboxWatcher:
    """Keeps one mailbox fetched: connect, fetch, IDLE (or poll), fetch again, ..."""

    def __init__(self, app: Flask, mailbox_id: int, stop: threading.Event) -> None:
        self.app = app
        self.mailbox_id = mailbox_id
        self.stop = stop
        config = app.config
        self.idle_seconds = float(config["MAIL_IDLE_SECONDS"])
        self.poll_seconds = float(config["MAIL_POLL_SECONDS"])
        self.lock_seconds = float(config["MAIL_LOCK_SECONDS"])
        self.max_backoff = float(config["MAIL_RECONNECT_MAX_SECONDS"])
        self.check_seconds = min(CHECK_SECONDS, self.lock_seconds / 3)

    def run(self) -> None:
        failures = 0
        while not self.stop.is_set():
            with self.app.app_context():
                lock = mailbox_lock(self.mailbox_id)
                if not lock.acquire():
                    # Another watcher has it; take over if it goes away.
                    delay = self.lock_seconds / 2
                else:
                    try:
                        self._session(lock)
                        failures, delay = 0, 0.0
                    except Exception as error:
                        failures += 1
                        delay = reconnect_delay(failures, self.max_backoff)
                        log.warning("mailbox %s: %s; reconnecting in %.1f s", self.mailbox_id,
                                    error, delay, exc_info=not isinstance(error, OSError))
                        record_failure(self.mailbox_id, error)
                        self._set_state("reconnecting")
                    finally:
                        lock.release()
                        db.session.remove()
            self.stop.wait(delay)
        with self.app.app_context():
            self._set_state("stopped")
            db.session.remove()

    def _session(self, lock: MailboxLock) -> None:
        mailbox = db.session.get(Mailbox, self.mailbox_id)
        if mailbox is None or not mailbox.active:
            self.stop.set()
            return
        with connect(mailbox) as client:
            fetch_new_mail(client, mailbox, lock)
            idle = b"IDLE" in client.capabilities()
            self._set_state("idle" if idle else "polling")
            while not self.stop.is_set():
                if idle:
                    self._idle(client, lock)
                else:
                    self._wait(self.poll_seconds, lock)
                if not self.stop.is_set():
                    fetch_new_mail(client, mailbox, lock)

    def _idle(self, client: IMAPClient, lock: MailboxLock) -> None:
        """IDLE until the server announces mail, the re-issue time comes, or a stop."""
        deadline = time.monotonic() + self.idle_seconds
        client.idle()
        try:
            while not self.stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                responses = client.idle_check(timeout=min(self.check_seconds, remaining))
                if not lock.renew():
                    raise LockLost(f"mailbox {self.mailbox_id}: fetch lock lapsed")
                # "* 12 EXISTS": a message arrived (RFC 3501 §7.3.1).
                if any(len(response) > 1 and response[1] == b"EXISTS"
                       for response in responses):
                    return
        finally:
            client.idle_done()

    def _wait(self, seconds: float, lock: MailboxLock) -> None:
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            self.stop.wait(min(self.check_seconds, max(deadline - time.monotonic(), 0)))
            if not lock.renew():
                raise LockLost(f"mailbox {self.mailbox_id}: fetch lock lapsed")

    def _set_state(self, state: str) -> None:
        mailbox = db.session.get(Mailbox, self.mailbox_id)
        if mailbox is not None:
            mailbox.connection_state = state
            mailbox.connection_state_at = utcnow()
            db.session.commit()


class WatchSupervisor:
    """A watcher thread for every active mailbox, kept in step with the mailbox table."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.stop = threading.Event()
        #: Per mailbox: its watcher, the watcher's stop event, and the connection settings
        #: it started with (hashed: the password is not kept around in clear).
        self._watchers: dict[int, tuple[threading.Thread, threading.Event, int]] = {}

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="helpdesk-mail-watch", daemon=True)
        thread.start()
        return thread

    def run(self) -> None:
        """Until stopped: start and stop watchers as mailboxes come and go."""
        while not self.stop.is_set():
            try:
                self._sync()
            except Exception:  # the database may be briefly away; try again next round
                log.warning("could not list mailboxes to watch", exc_info=True)
            self.stop.wait(RESCAN_SECONDS)
        for _thread, stop, _settings in self._watchers.values():
            stop.set()
        for thread, _stop, _settings in self._watchers.values():
            thread.join(timeout=CHECK_SECONDS * 3)

    def _sync(self) -> None:
        with self.app.app_context():
            active = {row[0]: hash(tuple(row[1:])) for row in db.session.execute(
                select(Mailbox.id, *_CONNECTION_SETTINGS).where(Mailbox.active))}
            db.session.remove()
        for mailbox_id, (thread, stop, settings) in list(self._watchers.items()):
            # Settings an admin changed apply to a fresh session: an open one would keep
            # using the old server, login or folder for as long as it lives.
            if active.get(mailbox_id) != settings or not thread.is_alive():
                stop.set()
                del self._watchers[mailbox_id]
        for mailbox_id in active.keys() - self._watchers.keys():
            stop = threading.Event()
            watcher = MailboxWatcher(self.app, mailbox_id, stop)
            thread = threading.Thread(target=watcher.run, daemon=True,
                                      name=f"helpdesk-mailbox-{mailbox_id}")
            thread.start()
            self._watchers[mailbox_id] = (thread, stop, active[mailbox_id])


def start_watching(app: Flask) -> None:
    """Embedded mode (``flask serve``): watch every mailbox from this process."""
    WatchSupervisor(app).start()
