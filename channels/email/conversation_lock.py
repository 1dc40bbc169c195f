"""Serialising the ingest of mail that belongs to one conversation.

Threading reads the message index, then writes it several statements later. Under
PostgreSQL's READ COMMITTED each statement sees what committed meanwhile, so a parent
ingested while its early reply commits could miss the reply's pending reference when it
looked, then find it when writing its own index row and take it over: the reply's ticket was
orphaned (about 1 reply in 200 misthreaded under two busy workers). Before reading anything,
ingest therefore takes a transaction-scoped advisory lock for every Message-ID the mail
names (its own and the ids it quotes). Two mails of one conversation share at least one id
(a reply quotes its parent), so they run one after the other, and the later one sees all of
the earlier's work. Locks are taken in ascending key order, so two mails never deadlock.
SQLite already admits one writer at a time and needs nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import text

from helpdesk.db import db

#: Advisory locks occupy PostgreSQL's shared lock table; a mail quoting hundreds of ids
#: must not exhaust it. The root (oldest reference) and the nearest ancestors are enough
#: to meet any other mail of the conversation.
MAX_KEYS = 32

_LOCK_SQL = text(
    "SELECT pg_advisory_xact_lock(key) FROM "
    "(SELECT DISTINCT unnest(CAST(:keys AS bigint[])) AS key ORDER BY key) AS ordered")


def lock_key(message_id: str) -> int:
    """A signed 64-bit key for ``message_id`` (PostgreSQL's advisory lock key space)."""
    digest = hashlib.blake2b(message_id.strip().lower().encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_conversation(own_id: str | None, quoted_ids: Iterable[str]) -> None:
    """Wait until no other transaction ingests mail naming any of these Message-IDs, and
    hold them until this transaction ends. ``quoted_ids``: likeliest parent first, as
    :func:`channels.email.threading.quoted_message_ids` orders them."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    quoted = list(quoted_ids)
    # Nearest ancestors first, plus the root (the last: References run oldest first).
    chosen = [*quoted[:MAX_KEYS - 2], *quoted[-1:]]
    ids = [message_id for message_id in (own_id, *chosen) if message_id]
    if ids:
        db.session.execute(_LOCK_SQL, {"keys": sorted({lock_key(m) for m in ids})})
