"""Zoho CRM v8: OAuth refresh tokens per data centre, the ``Zoho-oauthtoken`` header.

* The token response names the ``api_domain`` to call (per data centre); never hard-coded.
* Changes: ``If-Modified-Since`` (ISO 8601 with offset, whole seconds, *after* that instant)
  with ``sort_by=Modified_Time``. Page numbers stop at 2,000 records, so pages after the
  first follow ``info.next_page_token``; each page re-issues the query from the newest time
  seen anyway (:func:`~crm_bridge.adapters.base.walk_time_windows`).
* 204 No Content means nothing changed.
* Deletes: ``/Contacts/deleted?type=all`` with ``If-Modified-Since``.
* Errors: ``{code, message, status: "error"}``; 401 ``INVALID_TOKEN``; 429
  ``TOO_MANY_REQUESTS`` (concurrency, a minute); ``LIMIT_REACHED`` is the 24-hour credits.
* Push-back: a completed Task upserted with ``duplicate_check_fields`` on a unique
  ``Helpdesk_Event_Id`` field (``unique_field``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from crm_bridge.adapters.base import (
    HttpAdapter,
    Login,
    TimePage,
    chunked,
    clamp_page_size,
    json_body,
    pull_then_deletes,
    retry_after_seconds,
    since_instant,
    walk_time_windows,
    with_missing_as_deletes,
)
from crm_bridge.adapters.timestamps import floor_to, parse_iso
from crm_bridge.contract import (
    AuthFailed,
    Capabilities,
    ChangePage,
    DeleteSignal,
    InteractionEvent,
    PermanentError,
    PushResult,
    RateLimited,
    RawChange,
    TokenExpired,
    Watermark,
)

DEFAULT_FIELDS = ("First_Name", "Last_Name", "Full_Name", "Email", "Phone", "Mobile",
                  "Account_Name", "Owner", "Tag", "Customer_Tier", "Lifetime_Value",
                  "Modified_Time")
CONCURRENCY_RETRY_SECONDS = 60.0
DAILY_RETRY_SECONDS = 3600.0


class ZohoAdapter(HttpAdapter):
    vendor = "zoho"
    capabilities = Capabilities(
        server_side_since=True, delete_signal=DeleteSignal.IN_PULL, max_page_size=200,
        timestamp_resolution_ms=1000, overlap_ms=2000, can_push=True,
        push_idempotency="unique_field")

    @property
    def _module(self) -> str:
        return f"/crm/v8/{self.config.get('module', 'Contacts')}"

    @property
    def _fields(self) -> str:
        return ",".join(self.config.get("fields", DEFAULT_FIELDS))

    def log_in(self) -> Login:
        response = self.send("POST", f"{self.config['accounts_url']}/oauth/v2/token", params={
            "grant_type": "refresh_token", "client_id": self.config["client_id"],
            "client_secret": self.config["client_secret"],
            "refresh_token": self.config["refresh_token"]})
        body = json_body(self.vendor, response)
        if "access_token" not in body:  # Zoho answers a refused refresh with 200 {"error"}
            raise AuthFailed(f"zoho: token refused: {body.get('error')}")
        return Login(body["access_token"], body["api_domain"])

    def authorize(self, login: Login, request: dict[str, Any]) -> dict[str, Any]:
        request["headers"] = {**request.get("headers", {}),
                              "Authorization": f"Zoho-oauthtoken {login.token}"}
        return request

    def decode(self, response: httpx.Response) -> Any:
        if response.status_code in (204, 304):
            return {"data": [], "info": {"more_records": False}}
        body = json_body(self.vendor, response)
        if response.status_code < 400:
            return body
        code = str(body.get("code", ""))
        message = f"zoho: HTTP {response.status_code} {code}: {body.get('message')}"
        if code == "INVALID_TOKEN":
            raise TokenExpired(message)
        if code == "LIMIT_REACHED":
            raise RateLimited(DAILY_RETRY_SECONDS, "daily")
        if response.status_code == 429:
            raise RateLimited(retry_after_seconds(response, default=CONCURRENCY_RETRY_SECONDS))
        if response.status_code in (401, 403):
            raise AuthFailed(message)
        raise PermanentError(message)

    def _if_modified_since(self, edge: datetime) -> dict[str, str]:
        # Zoho reads the header as "modified after"; one second earlier makes it ">= edge".
        local = (floor_to(edge, 1000) - timedelta(seconds=1)).astimezone(
            ZoneInfo(self.config.get("timezone", "Asia/Shanghai")))
        return {"If-Modified-Since": local.isoformat("T", "seconds")}

    def pull(self, since: Watermark | None, *, object_type: str = "customer",
             page_size: int | None = None) -> Iterator[ChangePage]:
        overlap = self.capabilities.overlap_ms
        upserts = walk_time_windows(self._pages(page_size), since_instant(since, overlap))
        return pull_then_deletes(upserts, self._deleted, since, overlap)

    def _pages(self, size: int | None) -> Any:
        per_page = clamp_page_size(size, self.capabilities)

        def fetch(edge: datetime | None, page_token: Any) -> tuple[list[RawChange], Any]:
            params: dict[str, Any] = {"fields": self._fields, "per_page": per_page,
                                      "sort_by": "Modified_Time", "sort_order": "asc"}
            params.update({"page_token": page_token} if page_token else {"page": 1})
            body = self.call("GET", self._module, params=params,
                             headers=self._if_modified_since(edge) if edge else {})
            info = body.get("info", {})
            following = info.get("next_page_token") if info.get("more_records") else None
            return [self._change(record) for record in body["data"]], following
        return fetch

    def _change(self, record: Mapping[str, Any]) -> RawChange:
        return RawChange(str(record["id"]), parse_iso(record["Modified_Time"]), "upsert",
                         dict(record))

    def _deleted(self, start: datetime | None) -> Iterator[TimePage]:
        newest: datetime | None = None
        page = 1
        while True:
            body = self.call("GET", f"{self._module}/deleted",
                             params={"type": "all", "per_page": 200, "page": page},
                             headers=self._if_modified_since(start) if start else {})
            changes = []
            for record in body["data"]:
                deleted_at = parse_iso(record["deleted_time"])
                newest = max(newest, deleted_at) if newest else deleted_at
                changes.append(RawChange(str(record["id"]), deleted_at, "delete", {}))
            more = bool(body.get("info", {}).get("more_records"))
            yield TimePage(changes, newest, done=not more)
            if not more:
                return
            page += 1

    def fetch(self, external_ids: Sequence[str], *,
              object_type: str = "customer") -> Iterator[RawChange]:
        def found() -> Iterator[RawChange]:
            for chunk in chunked(list(external_ids), 100):
                body = self.call("GET", self._module,
                                 params={"ids": ",".join(chunk), "fields": self._fields})
                yield from (self._change(record) for record in body["data"])
        return with_missing_as_deletes(external_ids, found())

    def list_ids(self, *, object_type: str = "customer") -> Iterator[str]:
        params: dict[str, Any] = {"fields": "id", "per_page": 200, "page": 1}
        while True:
            body = self.call("GET", self._module, params=params)
            yield from (str(record["id"]) for record in body["data"])
            info = body.get("info", {})
            if not info.get("more_records"):
                return
            params = {"fields": "id", "per_page": 200, "page_token": info["next_page_token"]}

    def describe(self, *, object_type: str = "customer") -> Sequence[Mapping[str, Any]]:
        body = self.call("GET", "/crm/v8/settings/fields",
                         params={"module": self.config.get("module", "Contacts")})
        return [{"name": f["api_name"], "label": f["field_label"], "type": f["data_type"]}
                for f in body["fields"]]

    def push_interaction(self, event: InteractionEvent) -> PushResult:
        key_field = self.config.get("task_event_id_field", "Helpdesk_Event_Id")
        body = self.call("POST", "/crm/v8/Tasks/upsert", json={
            "data": [{"Subject": event.subject[:255], key_field: event.idempotency_key,
                      "Description": "\n\n".join(filter(None, [event.body, event.ticket_url])),
                      "Who_Id": {"id": event.customer_external_id}, "Status": "Completed",
                      "Due_Date": event.occurred_at.date().isoformat()}],
            "duplicate_check_fields": [key_field]})
        result = body["data"][0]
        if result.get("status") != "success":
            raise PermanentError(f"zoho: task upsert refused: {result.get('code')}: "
                                 f"{result.get('message')}")
        return PushResult(str(result["details"]["id"]), created=result.get("action") == "insert")


def factory(config: Mapping[str, Any], client: httpx.Client | None = None) -> ZohoAdapter:
    return ZohoAdapter(config, client)
