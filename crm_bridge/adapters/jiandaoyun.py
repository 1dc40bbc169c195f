"""简道云 Jiandaoyun: a CRM built from forms, read with the v5 data API and a static API key.

* Changes: ``data/list`` filtered ``updateTime`` range ``[since, ∞)``, always sorted by data
  id, ``data_id`` keyset, 100 per page: an id-ordered scan
  (:func:`~crm_bridge.adapters.base.walk_id_scan`).
* No delete feed: deletes arrive only as ``data_remove`` webhooks, which skip API and bulk
  edits, so ``list_ids`` sweeps are the backstop (``WEBHOOK_ONLY``).
* Errors: HTTP 400 ``{code, msg}``; code 8303 is the request-frequency limit (per second),
  HTTP 429 the concurrency limit. API keys do not expire.
* Push-back: a row in a follow-up form (跟进记录) whose event-id field is looked up first.
* Webhooks: ``X-JDY-Signature`` = hex SHA-1 of ``nonce:payload:secret:timestamp`` with nonce
  and timestamp in the query; ``X-JDY-DeliverId`` is the delivery id for dedup.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from crm_bridge.adapters.base import (
    HttpAdapter,
    Login,
    chunked,
    clamp_page_size,
    json_body,
    walk_id_scan,
    with_missing_as_deletes,
)
from crm_bridge.adapters.timestamps import format_iso_utc, parse_iso
from crm_bridge.contract import (
    AuthFailed,
    Capabilities,
    ChangeHint,
    ChangePage,
    DeleteSignal,
    InteractionEvent,
    PermanentError,
    PushResult,
    RateLimited,
    RawChange,
    Watermark,
)

FREQUENCY_LIMIT_CODE = 8303
WEBHOOK_MAX_AGE_SECONDS = 300
_OPS: dict[str, Any] = {"data_create": "upsert", "data_update": "upsert",
                        "data_recover": "upsert", "data_remove": "delete"}


class JiandaoyunAdapter(HttpAdapter):
    vendor = "jiandaoyun"
    capabilities = Capabilities(
        server_side_since=True, delete_signal=DeleteSignal.WEBHOOK_ONLY, max_page_size=100,
        timestamp_resolution_ms=1, overlap_ms=5000, has_webhooks=True, can_push=True,
        push_idempotency="unique_field")

    def log_in(self) -> Login:
        return Login(str(self.config["api_key"]),
                     str(self.config.get("base_url", "https://api.jiandaoyun.com")))

    def decode(self, response: httpx.Response) -> Any:
        body = json_body(self.vendor, response)
        if response.status_code < 400:
            return body
        message = f"jiandaoyun: HTTP {response.status_code} {body.get('code')}: {body.get('msg')}"
        if body.get("code") == FREQUENCY_LIMIT_CODE or response.status_code == 429:
            raise RateLimited(1.0)
        if response.status_code in (401, 403):
            raise AuthFailed(message)
        raise PermanentError(message)

    def _list(self, entry_id: str, *, cursor: str | None, limit: int,
              conditions: list[dict[str, Any]], fields: list[str] | None = None) -> Any:
        query: dict[str, Any] = {"app_id": self.config["app_id"], "entry_id": entry_id,
                                 "limit": limit}
        if cursor:
            query["data_id"] = cursor
        if conditions:
            query["filter"] = {"rel": "and", "cond": conditions}
        if fields:
            query["fields"] = fields
        rows = self.call("POST", "/api/v5/app/entry/data/list", json=query)["data"]
        return rows, (rows[-1]["_id"] if len(rows) == limit else None)

    def pull(self, since: Watermark | None, *, object_type: str = "customer",
             page_size: int | None = None) -> Iterator[ChangePage]:
        limit = clamp_page_size(page_size, self.capabilities)

        def fetch(start: datetime | None, cursor: Any) -> tuple[list[RawChange], Any]:
            conditions = [] if start is None else [{
                "field": "updateTime", "type": "datetime", "method": "range",
                "value": [format_iso_utc(start), None]}]
            rows, following = self._list(self.config["entry_id"], cursor=cursor, limit=limit,
                                         conditions=conditions)
            return [self._change(row) for row in rows], following
        return walk_id_scan(fetch, since, overlap_ms=self.capabilities.overlap_ms,
                            server_time=lambda: self.server_time)

    def _change(self, row: Mapping[str, Any]) -> RawChange:
        return RawChange(str(row["_id"]), parse_iso(row["updateTime"]), "upsert", dict(row))

    def fetch(self, external_ids: Sequence[str], *,
              object_type: str = "customer") -> Iterator[RawChange]:
        def found() -> Iterator[RawChange]:
            for chunk in chunked(list(external_ids), 100):
                rows, _ = self._list(self.config["entry_id"], cursor=None, limit=100, conditions=[
                    {"field": "_id", "type": "text", "method": "in", "value": list(chunk)}])
                yield from (self._change(row) for row in rows)
        return with_missing_as_deletes(external_ids, found())

    def list_ids(self, *, object_type: str = "customer") -> Iterator[str]:
        cursor = None
        while True:
            rows, cursor = self._list(self.config["entry_id"], cursor=cursor, limit=100,
                                      conditions=[], fields=["_id"])
            yield from (str(row["_id"]) for row in rows)
            if cursor is None:
                return

    def describe(self, *, object_type: str = "customer") -> Sequence[Mapping[str, Any]]:
        body = self.call("POST", "/api/v5/app/entry/widget/list", json={
            "app_id": self.config["app_id"], "entry_id": self.config["entry_id"]})
        return [{"name": w["name"], "label": w["label"], "type": w["type"]}
                for w in body["widgets"]]

    def push_interaction(self, event: InteractionEvent) -> PushResult:
        form = {"event_field": "event_id", "customer_field": "customer_id",
                "content_field": "content", **self.config.get("followup", {})}
        rows, _ = self._list(form["entry_id"], cursor=None, limit=1, conditions=[{
            "field": form["event_field"], "type": "text", "method": "eq",
            "value": [event.idempotency_key]}])
        if rows:
            return PushResult(str(rows[0]["_id"]), created=False)
        content = "\n\n".join(filter(None, [event.subject, event.body, event.ticket_url]))
        body = self.call("POST", "/api/v5/app/entry/data/create", json={
            "app_id": self.config["app_id"], "entry_id": form["entry_id"],
            "data": {form["event_field"]: {"value": event.idempotency_key},
                     form["customer_field"]: {"value": event.customer_external_id},
                     form["content_field"]: {"value": content}}})
        return PushResult(str(body["data"]["_id"]), created=True)

    def verify_and_decode(self, *, headers: Mapping[str, str], query: Mapping[str, str],
                          body: bytes) -> Sequence[ChangeHint]:
        lowered = {key.lower(): value for key, value in headers.items()}
        nonce, timestamp = query.get("nonce", ""), query.get("timestamp", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > WEBHOOK_MAX_AGE_SECONDS:
            raise AuthFailed("jiandaoyun webhook: missing or stale timestamp (replay?)")
        expected = hashlib.sha1(  # noqa: S324 - the vendor's signature scheme
            f"{nonce}:{body.decode()}:{self.config['webhook_secret']}:{timestamp}".encode()
        ).hexdigest()
        if not hmac.compare_digest(expected, lowered.get("x-jdy-signature", "")):
            raise AuthFailed("jiandaoyun webhook: bad signature")
        payload = json.loads(body)
        op = _OPS.get(payload.get("op", ""))
        if op is None:  # form_update and future operations carry no record
            return []
        return [ChangeHint("customer", [str(payload["data"]["_id"])], op,
                           lowered.get("x-jdy-deliverid"))]


def factory(config: Mapping[str, Any], client: httpx.Client | None = None) -> JiandaoyunAdapter:
    return JiandaoyunAdapter(config, client)
