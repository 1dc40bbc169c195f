"""A CRM export file (CSV or XLSX) as a sync source, read in pages without loading it whole.

Settings: ``path``, ``id_column``, optional ``updated_column`` (with ``updated_format``:
iso8601 / epoch_s / epoch_ms / local, and ``timezone`` for local times), ``encoding``,
``page_size``. Each sync reads the file from the top (a file has no changed-since query);
with an updated column, rows not newer than the watermark minus the overlap are left out,
and the bridge skips whatever is not newer than what it holds. Rows missing from a newer
export are found by mark-and-sweep (``list_ids``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any, Literal

import httpx

from crm_bridge.adapters.timestamps import (
    format_iso_utc,
    from_epoch_ms,
    minus_ms,
    parse_iso,
    parse_naive_local,
)
from crm_bridge.contract import (
    Capabilities,
    ChangePage,
    DeleteSignal,
    PermanentError,
    RawChange,
    Watermark,
)
from crm_bridge.sources import SourceError, read_records

DEFAULT_PAGE_SIZE = 1000


class FileSource:
    vendor = "csv_file"

    def __init__(self, config: Mapping[str, Any]) -> None:
        if not config.get("path") or not config.get("id_column"):
            raise PermanentError("csv_file: path and id_column are required")
        self.path = Path(config["path"])
        self.config = config
        self.capabilities = Capabilities(
            server_side_since=False, delete_signal=DeleteSignal.NONE,
            max_page_size=int(config.get("page_size", DEFAULT_PAGE_SIZE)),
            timestamp_resolution_ms=1000, overlap_ms=int(config.get("overlap_ms", 1000)),
            source_timezone=config.get("timezone"))

    def _rows(self) -> Iterator[tuple[int, Mapping[str, Any]]]:
        try:
            yield from read_records(self.path, self.config.get("encoding"))
        except (SourceError, OSError) as error:
            raise PermanentError(f"csv_file: {error}") from error

    def _change(self, record: Mapping[str, Any]) -> RawChange | None:
        external_id = record.get(self.config["id_column"])
        if external_id in (None, ""):
            return None  # a blank line or a row without an id: nothing to key it by
        return RawChange(str(external_id).strip(), self._updated_at(record), "upsert", record)

    def _updated_at(self, record: Mapping[str, Any]) -> datetime | None:
        column = self.config.get("updated_column")
        value = record.get(column) if column else None
        if value in (None, ""):
            return None
        kind = self.config.get("updated_format", "iso8601")
        try:
            if kind == "epoch_ms":
                return from_epoch_ms(value)
            if kind == "epoch_s":
                return from_epoch_ms(int(float(value) * 1000))
            return parse_naive_local(str(value), self.config.get("timezone", "UTC"))
        except (ValueError, TypeError) as error:
            raise PermanentError(f"csv_file: {column}={value!r} is not a {kind} time") from error

    def pull(self, since: Watermark | None, *, object_type: str = "customer",
             page_size: int | None = None) -> Iterator[ChangePage]:
        size = min(page_size or self.capabilities.max_page_size, self.capabilities.max_page_size)
        edge = minus_ms(parse_iso(since.value), self.capabilities.overlap_ms) \
            if since and since.value else None
        newest = parse_iso(since.value) if since and since.value else None
        changes = (change for _, record in self._rows()
                   if (change := self._change(record)) is not None
                   and (edge is None or change.updated_at is None or change.updated_at >= edge))
        page = list(islice(changes, size))
        while True:
            following = list(islice(changes, size))
            for change in page:
                if change.updated_at and (newest is None or change.updated_at > newest):
                    newest = change.updated_at
            done = not following
            kind: Literal["timestamp", "full_scan"] = (
                "timestamp" if self.config.get("updated_column") else "full_scan")
            # Until the file is read through, the watermark stays where it was.
            value = (format_iso_utc(newest) if done and newest else
                     since.value if since else None)
            yield ChangePage(page, Watermark(kind, value), done=done)
            if done:
                return
            page = following

    def fetch(self, external_ids: Sequence[str], *,
              object_type: str = "customer") -> Iterator[RawChange]:
        wanted = set(external_ids)
        found = set()
        for _, record in self._rows():
            change = self._change(record)
            if change is not None and change.external_id in wanted:
                found.add(change.external_id)
                yield change
        for external_id in wanted - found:
            yield RawChange(external_id, None, "delete", {})

    def list_ids(self, *, object_type: str = "customer") -> Iterator[str]:
        for _, record in self._rows():
            change = self._change(record)
            if change is not None:
                yield change.external_id

    def describe(self, *, object_type: str = "customer") -> Sequence[Mapping[str, Any]]:
        first = next(self._rows(), (0, {}))[1]
        return [{"name": key, "label": key, "type": "text"} for key in first]


def factory(config: Mapping[str, Any], client: httpx.Client | None = None) -> FileSource:
    return FileSource(config)
