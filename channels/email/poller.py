"""Fetching new mail from IMAP into :class:`RawEmail` rows; the ingest job does the rest.

The poller only stores bytes and queues work, so a slow or broken mail never holds up the
mailbox. Per batch: fetch with ``BODY.PEEK[]`` (does not set \\Seen, RFC 3501 §6.4.5; mail
bigger than ``MAIL_SPOOL_BYTES`` in pieces, into a file in storage) ->
store raw rows -> advance our UID cursor -> **commit** -> queue the batch's ingest job ->
flag \\Seen on the server. A crash anywhere re-fetches at worst, and the unique key
(mailbox, uidvalidity, uid) absorbs that. The \\Seen flag is a courtesy to humans reading the
mailbox, never our record: mail another client already read is still fetched.

Two drivers use it: :func:`poll_mailbox` (a job: connect, fetch, disconnect; the periodic
safety net and the fallback) and the IDLE watcher (``watch.py``), which keeps a session
open and calls :func:`fetch_new_mail` whenever the server announces mail. Both hold the
mailbox's fetch lock (``locks.py``) while fetching, so two pollers never fetch one mailbox.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from flask import current_app
from imapclient import SEEN, IMAPClient
from sqlalchemy import select
from sqlalchemy.exc import InvalidRequestError

from channels.email.imap import connect
from channels.email.locks import MailboxLock, mailbox_lock
from channels.email.models import Mailbox, RawEmail
from helpdesk import jobs
from helpdesk.db import db, utcnow
from helpdesk.tickets import storage

log = logging.getLogger(__name__)

FETCH_BATCH = 50
#: Mail bigger than ``MAIL_SPOOL_BYTES`` is fetched in pieces of this size.
FETCH_PIECE_BYTES = 2 * 1024 * 1024


class LockLost(Exception):
    """Our fetch lock lapsed and another fetcher may hold it: stop before storing more."""


def poll_all() -> None:
    """Periodic job ("inbound" queue): poll every active mailbox, each on its own.

    A mailbox that fails (wrong password, server down) has the error recorded on it for
    admins and does not keep the others from being polled.
    """
    mailbox_ids = list(db.session.scalars(
        select(Mailbox.id).where(Mailbox.active).order_by(Mailbox.id)))
    for mailbox_id in mailbox_ids:
        try:
            poll_mailbox(mailbox_id)
        except Exception:
            log.warning("polling mailbox %s failed", mailbox_id, exc_info=True)


def poll_mailbox(mailbox_id: int) -> int:
    """Fetch the mailbox's new mail into raw rows and queue their ingest; return how many.

    Commits once per batch (see :func:`_store_batch`). Safe to run twice: the cursor and
    the unique key keep a message from being stored twice. When another poller or a watcher
    holds the mailbox's lock this returns 0 at once, without touching the server. An error is
    recorded on the mailbox (``last_error``) and re-raised.
    """
    lock = mailbox_lock(mailbox_id)
    if not lock.acquire():
        log.info("mailbox %s is being fetched by another poller; skipping", mailbox_id)
        return 0
    try:
        mailbox = db.session.get(Mailbox, mailbox_id)
        if mailbox is None:
            raise LookupError(f"mailbox {mailbox_id} does not exist")
        try:
            with connect(mailbox) as client:
                stored = fetch_new_mail(client, mailbox, lock)
        except Exception as error:
            record_failure(mailbox_id, error)
            raise
        return stored
    finally:
        lock.release()


def record_failure(mailbox_id: int, error: BaseException) -> None:
    """Roll back and note ``error`` on the mailbox, for the admins' health page."""
    try:
        db.session.rollback()
    except InvalidRequestError:
        # The error came from an after-commit hook (an eager job): the session is between
        # states and cannot roll back; start a fresh one.
        db.session.remove()
    failed = db.session.get(Mailbox, mailbox_id)
    if failed is not None:
        failed.last_error = f"{type(error).__name__}: {error}"[:2000]
        failed.last_error_at = utcnow()
        db.session.commit()


def fetch_new_mail(client: IMAPClient, mailbox: Mailbox, lock: MailboxLock) -> int:
    """Store every message above our cursor; return how many were new. Commits per batch,
    then once more to mark the mailbox healthy (``last_polled_at``, no ``last_error``)."""
    stored = 0
    selected = client.select_folder(mailbox.imap_folder)
    uidvalidity = int(selected[b"UIDVALIDITY"])
    if mailbox.uidvalidity != uidvalidity:
        # RFC 3501 §2.3.1.1: a new UIDVALIDITY means every UID changed; start over.
        # Mail fetched again is recognised by ingest's Message-ID + content dedup.
        if mailbox.uidvalidity is not None:
            log.warning("mailbox %s: UIDVALIDITY changed %s -> %s, re-reading folder",
                        mailbox.name, mailbox.uidvalidity, uidvalidity)
        mailbox.uidvalidity = uidvalidity
        mailbox.last_uid = 0
    # "n:*" always matches the highest UID, even one below n (RFC 3501 §6.4.8).
    uids = sorted(uid for uid in client.search(["UID", f"{mailbox.last_uid + 1}:*"])
                  if uid > mailbox.last_uid)
    for start in range(0, len(uids), FETCH_BATCH):
        # Per batch, sizes included: a command naming every UID of a big folder would
        # exceed the server's line-length limit (Dovecot: 64 kB).
        batch = uids[start:start + FETCH_BATCH]
        if not lock.renew():
            raise LockLost(f"mailbox {mailbox.id}: fetch lock lapsed")
        stored += _store_batch(client, mailbox, batch)
        # Only now, with the batch committed: see the module docstring.
        client.add_flags(batch, [SEEN])
    mailbox.last_polled_at = utcnow()
    mailbox.last_error = None
    db.session.commit()
    return stored


def _store_batch(client: IMAPClient, mailbox: Mailbox, batch: Sequence[int]) -> int:
    """Store one batch, advance the cursor and commit; ingest jobs run after the commit.

    This job commits per batch, unlike most jobs (one commit at the end): the server is
    told \\Seen only about durable mail, and a failure in a later batch keeps this one.
    """
    config = current_app.config
    sizes = client.fetch(batch, ["RFC822.SIZE"])

    def size_of(uid: int) -> int:
        return int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0))

    known = set(db.session.scalars(select(RawEmail.uid).where(
        RawEmail.mailbox_id == mailbox.id, RawEmail.uidvalidity == mailbox.uidvalidity,
        RawEmail.uid.in_(batch))))
    new = [uid for uid in batch if uid not in known]
    # Oversized mail: fetch only its header, so one huge message cannot exhaust memory;
    # vetting quarantines it on its reported size, and admins still see who sent what.
    # Big mail below the limit goes to a file in pieces; the rest (nearly all) in one fetch.
    headers_only = [uid for uid in new if size_of(uid) > config["MAX_EMAIL_BYTES"]]
    to_file = [uid for uid in new if config["MAIL_SPOOL_BYTES"] < size_of(uid)
               <= config["MAX_EMAIL_BYTES"]]
    whole = [uid for uid in new if size_of(uid) <= config["MAIL_SPOOL_BYTES"]]
    fetched: dict[int, bytes] = {}
    if whole:
        fetched.update((uid, data[b"BODY[]"]) for uid, data in client.fetch(
            whole, ["BODY.PEEK[]"]).items() if b"BODY[]" in data)
    if headers_only:
        fetched.update((uid, data[b"BODY[HEADER]"]) for uid, data in client.fetch(
            headers_only, ["BODY.PEEK[HEADER]"]).items() if b"BODY[HEADER]" in data)
    rows = [RawEmail(mailbox_id=mailbox.id, uidvalidity=mailbox.uidvalidity, uid=uid,
                     raw=bytes(fetched[uid]), size=size_of(uid) or len(fetched[uid]))
            # A UID missing from the fetch was expunged meanwhile: nothing to keep.
            for uid in new if uid in fetched]
    for uid in to_file:
        storage_name = _fetch_to_storage(client, uid)
        if storage_name is not None:
            rows.append(RawEmail(mailbox_id=mailbox.id, uidvalidity=mailbox.uidvalidity,
                                 uid=uid, raw=None, raw_storage_name=storage_name,
                                 size=size_of(uid)))
    rows.sort(key=lambda row: row.uid)
    db.session.add_all(rows)
    mailbox.last_uid = max(batch)
    db.session.flush()
    if rows:
        # One job per batch: a worker's per-job cost (fork, app context) is paid once for
        # up to FETCH_BATCH mails; each mail is still its own transaction (tasks.py).
        jobs.enqueue("channels.email.tasks.ingest_batch", [row.id for row in rows],
                     queue="inbound")
    db.session.commit()
    return len(rows)


def _fetch_to_storage(client: IMAPClient, uid: int) -> str | None:
    """Fetch one big message into a file in the attachment storage, a piece at a time
    (partial fetches ``BODY.PEEK[]<offset.length>``, RFC 3501 §6.4.5), so it is never whole
    in memory; return the file's storage name, or ``None`` if it was expunged meanwhile.

    A crash before the batch commits leaves an unnamed file behind, never a row without
    its file.
    """
    descriptor, name = tempfile.mkstemp(dir=storage.scratch_dir(), prefix="mail-")
    path = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as file:
            offset = 0
            while True:
                response = client.fetch([uid], [f"BODY.PEEK[]<{offset}.{FETCH_PIECE_BYTES}>"])
                piece = response.get(uid, {}).get(f"BODY[]<{offset}>".encode())
                if piece is None:
                    return None
                file.write(piece)
                offset += len(piece)
                # A short piece is the last: the server returns what is left (§6.4.5).
                if len(piece) < FETCH_PIECE_BYTES:
                    break
        return storage.save_file(path)
    finally:
        path.unlink(missing_ok=True)
