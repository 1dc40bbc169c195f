"""Email jobs around the ingest pipeline: batches of fetched mail, and the sweeps that pick up
work whose job was lost with a crashed process."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import undefer

from channels.email.ingest import ingest_row
from channels.email.models import OutboxEmail, RawEmail
from channels.email.send import delivery_batch
from helpdesk import jobs
from helpdesk.db import batch_cache, db, utcnow

log = logging.getLogger(__name__)

#: Attempts after which a failed outbox mail is left for an admin (about a day of backoff).
MAX_DELIVERY_ATTEMPTS = 10
SWEEP_LIMIT = 500


def ingest_batch(raw_email_ids: Sequence[int]) -> None:
    """Job ("inbound"): ingest each raw email of one fetched batch, in order.

    Each mail is its own unit of work (committed on its own), so a mail that fails on our
    side is retried alone (queued as a single ``ingest`` job with the runner's backoff) and
    never holds back the rest. Idempotent: mail already ingested, or being ingested by
    another worker right now, is skipped.
    """
    with batch_cache(), delivery_batch():
        for raw_email_id in raw_email_ids:
            try:
                raw_email = _claim(raw_email_id)
                if raw_email is not None:
                    ingest_row(raw_email)
                db.session.commit()
            except Exception:
                db.session.rollback()
                log.warning("ingesting raw email %s failed; retrying it alone", raw_email_id,
                            exc_info=True)
                jobs.enqueue_now("channels.email.ingest.ingest", raw_email_id,
                                 queue="inbound")


def _claim(raw_email_id: int) -> RawEmail | None:
    """Lock the raw row if it still waits for ingest. On PostgreSQL a row another worker
    holds is skipped (a sweep may have queued mail whose first job is still running); SQLite
    lets one writer in at a time, and a stale second writer fails and is retried. Loads the
    bytes too: ingest reads them next."""
    return db.session.scalar(_CLAIM, {"raw_email_id": raw_email_id})


_CLAIM = (select(RawEmail).options(undefer(RawEmail.raw))
          .where(RawEmail.id == bindparam("raw_email_id"), RawEmail.status == "new")
          .with_for_update(skip_locked=True))


def resume_ingest() -> int:
    """Periodic job: queue again stored mail still "new" well after it was fetched (its job
    died with a worker, or the poller died between commit and queueing). Returns how many."""
    cutoff = utcnow() - timedelta(seconds=current_app.config["MAIL_SWEEP_AFTER_SECONDS"])
    ids = list(db.session.scalars(
        select(RawEmail.id).where(RawEmail.status == "new", RawEmail.received_at < cutoff)
        .order_by(RawEmail.id).limit(SWEEP_LIMIT)))
    for start in range(0, len(ids), 50):
        jobs.enqueue("channels.email.tasks.ingest_batch", ids[start:start + 50],
                     queue="inbound")
    return len(ids)


def resume_outbox() -> int:
    """Periodic job: queue delivery again for outbox mail left "queued" after a crash, and
    for failed mail whose backoff has passed (up to :data:`MAX_DELIVERY_ATTEMPTS`). Safe to
    run any time: delivery skips mail already sent. Returns how many."""
    now = utcnow()
    cutoff = now - timedelta(seconds=current_app.config["MAIL_SWEEP_AFTER_SECONDS"])
    ids = list(db.session.scalars(
        select(OutboxEmail.id).where(or_(
            (OutboxEmail.status == "queued") & (OutboxEmail.created_at < cutoff),
            (OutboxEmail.status == "failed") & (OutboxEmail.next_attempt_at <= now)
            & (OutboxEmail.attempts < MAX_DELIVERY_ATTEMPTS)))
        .order_by(OutboxEmail.id).limit(SWEEP_LIMIT)))
    for start in range(0, len(ids), 50):
        jobs.enqueue("channels.email.send.deliver_batch", ids[start:start + 50],
                     queue="outbound")
    return len(ids)
