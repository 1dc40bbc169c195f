"""Any database SQLAlchemy can reach, as a sync source: a table or a query.

Settings: ``url`` (an SQLAlchemy URL; its password belongs in the source's secrets as ``url``),
``table`` or ``query`` (a SELECT; it is wrapped as a subquery), ``id_column``, optional
``updated_column`` and ``timezone`` (for naive timestamps, which most databases store).

With an updated column, pages are read in ``(updated, id)`` order with a keyset, so the
watermark is exact and advances page by page; each run starts ``overlap_ms`` early to catch
rows committed late by long transactions. Without one, every run is a full scan.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from crm_bridge.adapters.timestamps import format_iso_utc, minus_ms, parse_iso
from crm_bridge.contract import (
    AuthFailed,
    Capabilities,
    ChangePage,
    DeleteSignal,
    PermanentError,
    RawChange,
    TransientError,
    Watermark,
)

DEFAULT_PAGE_SIZE = 1000


class SqlSource:
    vendor = "sql"

    def __init__(self, config: Mapping[str, Any]) -> None:
        if not config.get("url") or not config.get("id_column") or not (
                config.get("table") or config.get("query")):
            raise PermanentError("sql: url, id_column and a table or query are required")
        self.config = config
        self.zone = ZoneInfo(config.get("timezone") or "UTC")
        self.engine = sa.create_engine(config["url"], pool_pre_ping=True)
        self.capabilities = Capabilities(
            server_side_since=bool(config.get("updated_column")),
            delete_signal=DeleteSignal.NONE,
            max_page_size=int(config.get("page_size", DEFAULT_PAGE_SIZE)),
            timestamp_resolution_ms=1, overlap_ms=int(config.get("overlap_ms", 1000)),
            source_timezone=config.get("timezone"))

    def _relation(self) -> sa.FromClause:
        if self.config.get("table"):
            return sa.table(self.config["table"], *self._columns())
        return sa.text(self.config["query"]).columns(*self._columns()).subquery("source")

    def _columns(self) -> list[sa.ColumnClause[Any]]:
        names = [self.config["id_column"]]
        if self.config.get("updated_column"):
            names.append(self.config["updated_column"])
        return [sa.column(name) for name in names]

    def _select(self) -> sa.Select[Any]:
        return sa.select(sa.text("*")).select_from(self._relation())

    def _rows(self, statement: sa.Executable) -> list[Mapping[str, Any]]:
        try:
            with self.engine.connect() as connection:
                return [dict(row) for row in connection.execute(statement).mappings()]
        except OperationalError as error:
            text = str(error.orig).lower()
            if "password" in text or "authentication" in text or "access denied" in text:
                raise AuthFailed(f"sql: {error.orig}") from error
            raise TransientError(f"sql: {error.orig}") from error
        except SQLAlchemyError as error:
            raise PermanentError(f"sql: {error}") from error

    def _change(self, row: Mapping[str, Any]) -> RawChange:
        updated = row.get(self.config["updated_column"]) if self.config.get(
            "updated_column") else None
        return RawChange(str(row[self.config["id_column"]]), self._aware(updated), "upsert",
                         {key: _plain(value) for key, value in row.items()})

    def _aware(self, value: Any) -> datetime | None:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):
            return None
        return (value if value.tzinfo else value.replace(tzinfo=self.zone)).astimezone(UTC)

    def _naive_local(self, moment: datetime) -> sa.BindParameter[Any]:
        """``moment`` as the database's naive local time, bound untyped so the driver
        formats it natively (SQLAlchemy's SQLite type would add microseconds to the text,
        which then no longer compares equal to timestamps other writers stored)."""
        local = moment.astimezone(self.zone).replace(tzinfo=None)
        return sa.bindparam(None, local, type_=sa.types.NullType())

    def pull(self, since: Watermark | None, *, object_type: str = "customer",
             page_size: int | None = None) -> Iterator[ChangePage]:
        size = min(page_size or self.capabilities.max_page_size, self.capabilities.max_page_size)
        if not self.config.get("updated_column"):
            yield from self._full_scan(since, size)
            return
        id_column: sa.ColumnClause[Any] = sa.column(self.config["id_column"])
        updated: sa.ColumnClause[Any] = sa.column(self.config["updated_column"])
        key: tuple[datetime, str] | None = None
        value = since.value if since else None
        start = minus_ms(parse_iso(value), self.capabilities.overlap_ms) if value else None
        while True:
            statement = self._select().order_by(updated, id_column).limit(size)
            if key is not None:
                local = self._naive_local(key[0])
                statement = statement.where(sa.or_(
                    updated > local, sa.and_(updated == local, id_column > key[1])))
            elif start is not None:
                statement = statement.where(updated >= self._naive_local(start))
            changes = [self._change(row) for row in self._rows(statement)]
            done = len(changes) < size
            if changes and changes[-1].updated_at is not None:
                key = (changes[-1].updated_at, changes[-1].external_id)
                value = format_iso_utc(key[0])
            yield ChangePage(changes, Watermark("timestamp", value,
                                                last_id=key[1] if key else None), done=done)
            if done:
                return

    def _full_scan(self, since: Watermark | None, size: int) -> Iterator[ChangePage]:
        id_column: sa.ColumnClause[Any] = sa.column(self.config["id_column"])
        last_id = since.extra.get("last_id") if since and since.kind == "full_scan" else None
        while True:
            statement = self._select().order_by(id_column).limit(size)
            if last_id is not None:
                statement = statement.where(id_column > last_id)
            changes = [self._change(row) for row in self._rows(statement)]
            done = len(changes) < size
            last_id = changes[-1].raw[self.config["id_column"]] if changes else last_id
            yield ChangePage(changes, Watermark("full_scan", extra={} if done else {
                "last_id": last_id}), done=done)
            if done:
                return

    def fetch(self, external_ids: Sequence[str], *,
              object_type: str = "customer") -> Iterator[RawChange]:
        id_column: sa.ColumnClause[Any] = sa.column(self.config["id_column"])
        found = {}
        rows = self._rows(self._select().where(sa.cast(id_column, sa.String).in_(
            list(external_ids))))
        for row in rows:
            change = self._change(row)
            found[change.external_id] = change
        for external_id in external_ids:
            yield found.get(external_id) or RawChange(external_id, None, "delete", {})

    def list_ids(self, *, object_type: str = "customer") -> Iterator[str]:
        statement: sa.Select[Any] = sa.select(
            sa.column(self.config["id_column"])).select_from(self._relation())
        try:
            with self.engine.connect() as connection:
                for (value,) in connection.execution_options(stream_results=True).execute(
                        statement):
                    yield str(value)
        except SQLAlchemyError as error:
            raise PermanentError(f"sql: {error}") from error

    def describe(self, *, object_type: str = "customer") -> Sequence[Mapping[str, Any]]:
        rows = self._rows(self._select().limit(1))
        return [{"name": key, "label": key, "type": type(value).__name__}
                for key, value in (rows[0] if rows else {}).items()]


def _plain(value: Any) -> Any:
    """JSON-safe values, since raw records are kept for review and replay."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def factory(config: Mapping[str, Any], client: httpx.Client | None = None) -> SqlSource:
    return SqlSource(config)
