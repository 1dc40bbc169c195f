"""One fetcher per mailbox: a lock with an owner token and a TTL the holder keeps renewing.

Two pollers fetching one mailbox (an overlapping cron run, a second ``mailbox watch``) is how
other helpdesks make duplicate tickets. With Redis the lock is redis-py's ``Lock`` (a random
token set with ``SET NX PX``; renewed and released by Lua scripts that check the token). In
embedded mode it is a :class:`MailboxLease` row taken by a conditional UPDATE or INSERT.

A holder that dies simply stops renewing, and the lock lapses after ``MAIL_LOCK_SECONDS``. A
holder that stalls past the TTL may overlap with the next one for a moment; the unique key
(mailbox, uidvalidity, uid) on raw mail still stores each message once.
"""

from __future__ import annotations

import contextlib
import secrets
from datetime import timedelta
from functools import cache
from typing import Protocol

from flask import current_app
from redis import Redis
from redis.exceptions import LockError
from sqlalchemy import delete, insert, or_, update
from sqlalchemy.exc import IntegrityError

from channels.email.models import MailboxLease
from helpdesk.db import db, utcnow


class MailboxLock(Protocol):
    def acquire(self) -> bool:
        """Take the lock if nobody holds it; ``False`` if another fetcher does."""
        ...

    def renew(self) -> bool:
        """Extend our hold by the TTL; ``False`` if the lock lapsed and was taken."""
        ...

    def release(self) -> None:
        """Give the lock up (if we still hold it)."""
        ...


def mailbox_lock(mailbox_id: int) -> MailboxLock:
    """The fetch lock of ``mailbox_id``: in Redis when configured, else a lease row."""
    ttl = float(current_app.config["MAIL_LOCK_SECONDS"])
    redis_url = current_app.config["REDIS_URL"]
    if redis_url:
        return RedisMailboxLock(_redis(redis_url), mailbox_id, ttl)
    return LeaseMailboxLock(mailbox_id, ttl)


@cache
def _redis(url: str) -> Redis:
    return Redis.from_url(url)


class RedisMailboxLock:
    def __init__(self, redis: Redis, mailbox_id: int, ttl: float) -> None:
        # thread_local=False: a watcher may renew from another thread than it acquired in.
        self._lock = redis.lock(f"helpdesk:mailbox-fetch:{mailbox_id}", timeout=ttl,
                                blocking=False, thread_local=False)

    def acquire(self) -> bool:
        return bool(self._lock.acquire(blocking=False))

    def renew(self) -> bool:
        try:
            return bool(self._lock.reacquire())
        except LockError:
            return False

    def release(self) -> None:
        # Lapsed and perhaps taken: then it is not ours to release any more.
        with contextlib.suppress(LockError):
            self._lock.release()


class LeaseMailboxLock:
    """A :class:`MailboxLease` row, written in its own short transaction.

    Its own connection (not the session): the lease must be visible to other fetchers at
    once, whatever the caller's unit of work is doing.
    """

    def __init__(self, mailbox_id: int, ttl: float) -> None:
        self.mailbox_id = mailbox_id
        self.ttl = timedelta(seconds=ttl)
        self.owner = secrets.token_hex(16)

    def acquire(self) -> bool:
        now = utcnow()
        with db.engine.begin() as connection:
            taken = connection.execute(
                update(MailboxLease)
                .where(MailboxLease.mailbox_id == self.mailbox_id,
                       or_(MailboxLease.owner == self.owner, MailboxLease.expires_at < now))
                .values(owner=self.owner, expires_at=now + self.ttl)).rowcount
            if taken:
                return True
            try:
                with connection.begin_nested():
                    connection.execute(insert(MailboxLease).values(
                        mailbox_id=self.mailbox_id, owner=self.owner,
                        expires_at=now + self.ttl))
            except IntegrityError:  # a live lease of another owner exists
                return False
        return True

    def renew(self) -> bool:
        with db.engine.begin() as connection:
            return bool(connection.execute(
                update(MailboxLease)
                .where(MailboxLease.mailbox_id == self.mailbox_id,
                       MailboxLease.owner == self.owner)
                .values(expires_at=utcnow() + self.ttl)).rowcount)

    def release(self) -> None:
        with db.engine.begin() as connection:
            connection.execute(delete(MailboxLease).where(
                MailboxLease.mailbox_id == self.mailbox_id, MailboxLease.owner == self.owner))
