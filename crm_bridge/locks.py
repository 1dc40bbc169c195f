"""One sync per source at a time: a Redis lock with rq workers, a database lease embedded.

Both expire on their own (``ttl``), so a worker that dies mid-sync does not block the source
for ever; the sync renews its hold after every page.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Protocol

from flask import current_app
from sqlalchemy import or_, update

from crm_bridge.models import CrmSource
from helpdesk.db import db, utcnow

LOCK_TTL = timedelta(minutes=10)


class SourceBusy(Exception):
    """Another sync of this source is running."""


class Hold(Protocol):
    def renew(self) -> None: ...


class _RedisHold:
    def __init__(self, lock: object) -> None:
        self.lock = lock

    def renew(self) -> None:
        self.lock.reacquire()  # type: ignore[attr-defined]


class _LeaseHold:
    def __init__(self, source_id: int, holder: str) -> None:
        self.source_id, self.holder = source_id, holder

    def take(self) -> bool:
        """Take the lease if free or expired (one conditional UPDATE, so two cannot both win)."""
        now = utcnow()
        result = db.session.execute(update(CrmSource).where(
            CrmSource.id == self.source_id,
            or_(CrmSource.lease_until.is_(None), CrmSource.lease_until < now,
                CrmSource.lease_holder == self.holder),
        ).values(lease_holder=self.holder, lease_until=now + LOCK_TTL))
        db.session.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def renew(self) -> None:
        db.session.execute(update(CrmSource).where(
            CrmSource.id == self.source_id, CrmSource.lease_holder == self.holder,
        ).values(lease_until=utcnow() + LOCK_TTL))

    def release(self) -> None:
        db.session.rollback()
        db.session.execute(update(CrmSource).where(
            CrmSource.id == self.source_id, CrmSource.lease_holder == self.holder,
        ).values(lease_holder=None, lease_until=None))
        db.session.commit()


@contextmanager
def hold_source(source_id: int) -> Iterator[Hold]:
    """Hold the source's lock for the block; raise :class:`SourceBusy` if another holds it."""
    # Unique per hold: a second hold in the same process must not pass for the first.
    holder = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex}"[:80]
    if current_app.config["JOBS_MODE"] == "rq":
        from redis import Redis

        lock = Redis.from_url(current_app.config["REDIS_URL"]).lock(
            f"helpdesk:crm-sync:{source_id}", timeout=LOCK_TTL.total_seconds(), blocking=False)
        if not lock.acquire():
            raise SourceBusy(source_id)
        try:
            yield _RedisHold(lock)
        finally:
            lock.release()
        return
    lease = _LeaseHold(source_id, holder)
    if not lease.take():
        raise SourceBusy(source_id)
    try:
        yield lease
    finally:
        lease.release()
