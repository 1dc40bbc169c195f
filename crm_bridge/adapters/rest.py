"""A generic paginated REST/JSON source, for CRMs and in-house systems without an adapter.

Configured, not coded (``settings`` of the source; ``token`` belongs in its secrets)::

    {"base_url": "https://crm.example.com/api", "path": "/customers",
     "records_path": "data", "id_field": "id", "updated_field": "updated_at",
     "updated_format": "iso8601",            # or epoch_s, epoch_ms, local (+ "timezone")
     "pagination": "cursor",                 # or "page", "offset"
     "page_param": "page", "first_page": 1,  # page pagination
     "offset_param": "offset",               # offset pagination
     "cursor_param": "cursor", "next_cursor_path": "next_cursor",  # cursor pagination
     "size_param": "limit", "page_size": 100,
     "since_param": "updated_since",         # optional: the server filters updated >= since
     "item_path": "/customers/{id}",         # optional: fetch by id (404 = deleted)
     "deleted_field": "deleted"}             # optional: records flagged deleted

The order of results is not assumed, so with ``since_param`` the watermark moves only when a
scan finishes (``walk_id_scan``); a crashed scan resumes at its page. Without it every sync
is a full scan, made cheap by the bridge skipping records that are not newer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

import httpx

from crm_bridge.adapters.base import (
    HttpAdapter,
    Login,
    check_status,
    json_body,
    walk_id_scan,
    with_missing_as_deletes,
)
from crm_bridge.adapters.timestamps import format_iso_utc, from_epoch_ms, parse_naive_local
from crm_bridge.contract import (
    Capabilities,
    ChangePage,
    DeleteSignal,
    PermanentError,
    RawChange,
    Watermark,
)
from crm_bridge.mapping import lookup

DEFAULT_PAGE_SIZE = 100


class RestSource(HttpAdapter):
    vendor = "rest"

    def __init__(self, config: Mapping[str, Any], client: httpx.Client | None = None) -> None:
        super().__init__(config, client)
        if not config.get("base_url") or not config.get("path"):
            raise PermanentError("rest: base_url and path are required")
        self.page_size = int(config.get("page_size", DEFAULT_PAGE_SIZE))
        self.pagination = config.get("pagination", "page")
        if self.pagination not in ("page", "offset", "cursor"):
            raise PermanentError(f"rest: unknown pagination {self.pagination!r}")
        self.capabilities = Capabilities(
            server_side_since=bool(config.get("since_param")),
            delete_signal=DeleteSignal.NONE, max_page_size=self.page_size,
            timestamp_resolution_ms=1, overlap_ms=int(config.get("overlap_ms", 1000)),
            source_timezone=config.get("timezone"))

    def log_in(self) -> Login:
        return Login(str(self.config.get("token", "")), str(self.config["base_url"]).rstrip("/"))

    def authorize(self, login: Login, request: dict[str, Any]) -> dict[str, Any]:
        headers = {**self.config.get("headers", {}), **request.get("headers", {})}
        if login.token:
            headers["Authorization"] = f"Bearer {login.token}"
        return {**request, "headers": headers}

    def decode(self, response: httpx.Response) -> Any:
        check_status(self.vendor, response)
        return json_body(self.vendor, response)

    # CrmSource -------------------------------------------------------------------------------

    def pull(self, since: Watermark | None, *, object_type: str = "customer",
             page_size: int | None = None) -> Iterator[ChangePage]:
        size = min(page_size or self.page_size, self.page_size)
        if not self.config.get("since_param"):
            yield from self._full_scan(since, size)
            return

        def fetch(edge: datetime | None, continuation: Any) -> tuple[list[RawChange], Any]:
            params = {self.config["since_param"]: format_iso_utc(edge)} if edge else {}
            return self._page(continuation, size, params)

        yield from walk_id_scan(fetch, since, overlap_ms=self.capabilities.overlap_ms,
                                server_time=lambda: self.server_time)

    def _full_scan(self, since: Watermark | None, size: int) -> Iterator[ChangePage]:
        position = since.extra.get("position") if since and since.kind == "full_scan" else None
        while True:
            changes, position = self._page(position, size, {})
            done = position is None
            yield ChangePage(changes, Watermark("full_scan", extra={} if done else {
                "position": position}), done=done)
            if done:
                return

    def _page(self, position: Any, size: int,
              params: dict[str, Any]) -> tuple[list[RawChange], Any]:
        """One page at ``position`` (page number, offset or cursor; None: the first)."""
        params = {**params, self.config.get("size_param", "limit"): size}
        if self.pagination == "page":
            position = position or int(self.config.get("first_page", 1))
            params[self.config.get("page_param", "page")] = position
        elif self.pagination == "offset":
            position = position or 0
            params[self.config.get("offset_param", "offset")] = position
        elif position:
            params[self.config.get("cursor_param", "cursor")] = position
        body = self.call("GET", self.config["path"], params=params)
        records = lookup(body, self.config["records_path"]) if self.config.get(
            "records_path") else body
        if not isinstance(records, list):
            raise PermanentError(f"rest: no list of records at {self.config.get('records_path')!r}")
        changes = [self._change(record) for record in records]
        if self.pagination == "cursor":
            following = lookup(body, self.config.get("next_cursor_path", "next_cursor"))
            return changes, following or None
        if len(records) < size:
            return changes, None
        return changes, position + (1 if self.pagination == "page" else len(records))

    def _change(self, record: Mapping[str, Any]) -> RawChange:
        external_id = lookup(record, self.config.get("id_field", "id"))
        if external_id in (None, ""):
            raise PermanentError(f"rest: a record has no {self.config.get('id_field', 'id')!r}")
        deleted = str(self.config.get("deleted_field") or "")
        is_deleted = bool(deleted) and lookup(record, deleted) in (True, 1, "true", "1")
        op: Literal["upsert", "delete"] = "delete" if is_deleted else "upsert"
        return RawChange(str(external_id), self._updated_at(record), op,
                         record if op == "upsert" else {})

    def _updated_at(self, record: Mapping[str, Any]) -> datetime | None:
        field = self.config.get("updated_field")
        value = lookup(record, field) if field else None
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
            raise PermanentError(f"rest: {field}={value!r} is not a {kind} time") from error

    def fetch(self, external_ids: Sequence[str], *,
              object_type: str = "customer") -> Iterator[RawChange]:
        item_path = self.config.get("item_path")
        if not item_path:
            raise PermanentError("rest: set item_path to fetch records by id")
        return with_missing_as_deletes(external_ids, self._fetch_each(item_path, external_ids))

    def _fetch_each(self, item_path: str, external_ids: Sequence[str]) -> Iterator[RawChange]:
        for external_id in external_ids:
            try:
                record = self.call("GET", item_path.replace("{id}", quote(external_id, safe="")))
            except PermanentError as error:
                if "HTTP 404" in str(error):
                    continue  # gone: with_missing_as_deletes reports it
                raise
            yield self._change(record)

    def list_ids(self, *, object_type: str = "customer") -> Iterator[str]:
        for page in self._full_scan(None, self.page_size):
            yield from (c.external_id for c in page.changes if c.op == "upsert")

    def describe(self, *, object_type: str = "customer") -> Sequence[Mapping[str, Any]]:
        changes, _ = self._page(None, 1, {})
        record = changes[0].raw if changes else {}
        return [{"name": key, "label": key, "type": type(value).__name__}
                for key, value in record.items()]


def factory(config: Mapping[str, Any], client: httpx.Client | None = None) -> RestSource:
    return RestSource(config, client)
