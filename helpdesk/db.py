"""Database plumbing: the SQLAlchemy handle, a UTC datetime column, after-commit hooks and
the per-batch cache of admin-edited settings.

One unit of work (a request or a job) commits once. Side effects that must not happen unless
the data they describe is durable (enqueueing a job, sending mail) are registered with
:func:`after_commit`; they run after a successful commit and are dropped on rollback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

# mypy cannot see through Flask-SQLAlchemy's dynamically built model class; to the type
# checker every model is simply a declarative ``Base`` subclass.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model

_HOOKS_KEY = "helpdesk.after_commit"
_BATCH_CACHE_KEY = "helpdesk.batch_cache"
_T = TypeVar("_T")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC, on every engine (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; store aware UTC datetimes only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def after_commit(callback: Callable[[], Any]) -> None:
    """Run ``callback`` once the current session commits; forget it if it rolls back."""
    db.session().info.setdefault(_HOOKS_KEY, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit_hooks(session: Session) -> None:
    hooks = session.info.pop(_HOOKS_KEY, [])
    for hook in hooks:
        hook()


@event.listens_for(Session, "after_rollback")
def _drop_after_commit_hooks(session: Session) -> None:
    session.info.pop(_HOOKS_KEY, None)


@contextmanager
def batch_cache() -> Iterator[None]:
    """Within this block, settings looked up through :func:`cached` (SLA policies and
    calendars, routing rules, a mailbox's team, ...) are read once, however many units of
    work commit inside it. A job opens it around all its work (``helpdesk.jobs`` does for
    every job): a setting an admin saves meanwhile applies from the next job on. Nested
    blocks share the outermost one's cache. Outside any block every look-up reads afresh,
    so a request that saves a setting and then uses it sees its own change."""
    info = db.session().info
    if _BATCH_CACHE_KEY in info:
        yield
        return
    info[_BATCH_CACHE_KEY] = {}
    try:
        yield
    finally:
        info.pop(_BATCH_CACHE_KEY, None)


def cached(key: str, load: Callable[[], _T]) -> _T:
    """``load()``, remembered under ``key`` while a :func:`batch_cache` block is open.

    Cache plain values (pure policies, rules, ids), not ORM objects: those expire at each
    commit of the batch and would be read again anyway."""
    cache: dict[str, Any] | None = db.session().info.get(_BATCH_CACHE_KEY)
    if cache is None:
        return load()
    if key not in cache:
        cache[key] = load()
    return cast(_T, cache[key])


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    """WAL lets the console read while a job writes; busy_timeout waits instead of failing."""
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
