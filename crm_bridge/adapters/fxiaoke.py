"""纷享销客 Fxiaoke (ShareCRM) open API v2, legacy corpAccessToken mode.

* Auth: ``corpAccessToken/get/V2`` with appId, appSecret and permanentCode; every call carries
  ``corpAccessToken``, ``corpId`` and ``currentOpenUserId`` in its JSON body and a unique
  ``thirdTraceId`` in the query.
* The HTTP status is always 200: success is ``errorCode == 0``. 20016 = token expired,
  30004 = per-interface limit (100 calls / 20 s), 30002 = daily quota.
* Changes: ``last_modified_time GTE <epoch ms>`` ordered by ``_id``; offsets stop at 10,000
  (error 10013), so paging is keyset on ``_id GT last`` with offset 0 (an id-ordered scan).
* Deletes: no feed (``NONE``): hard deletes surface through ``list_ids`` sweeps; records
  voided in the CRM (``life_status`` ``invalid``, ``is_deleted``) are reported as deletes.
"""

from __future__ import annotations

import uuid
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
from crm_bridge.adapters.timestamps import from_epoch_ms, to_epoch_ms
from crm_bridge.contract import (
    AuthFailed,
    Capabilities,
    ChangePage,
    DeleteSignal,
    PermanentError,
    RateLimited,
    RawChange,
    TokenExpired,
    Watermark,
)

TOKEN_EXPIRED, BURST_LIMITED, DAILY_LIMITED = 20016, 30004, 30002
BURST_WINDOW_SECONDS, DAILY_RETRY_SECONDS = 20.0, 3600.0


class FxiaokeAdapter(HttpAdapter):
    vendor = "fxiaoke"
    capabilities = Capabilities(
        server_side_since=True, delete_signal=DeleteSignal.NONE, max_page_size=100,
        timestamp_resolution_ms=1, overlap_ms=5000)

    def log_in(self) -> Login:
        base = str(self.config.get("base_url", "https://open.fxiaoke.com"))
        body = self.decode(self.send("POST", f"{base}/cgi/corpAccessToken/get/V2", json={
            "appId": self.config["app_id"], "appSecret": self.config["app_secret"],
            "permanentCode": self.config["permanent_code"]}), logging_in=True)
        self._corp_id = str(body["corpId"])
        return Login(str(body["corpAccessToken"]), base)

    def authorize(self, login: Login, request: dict[str, Any]) -> dict[str, Any]:
        request["json"] = {**request.get("json", {}), "corpAccessToken": login.token,
                           "corpId": self._corp_id,
                           "currentOpenUserId": self.config["open_user_id"]}
        request["params"] = {"thirdTraceId": str(uuid.uuid4())}
        return request

    def decode(self, response: httpx.Response, logging_in: bool = False) -> Any:
        body = json_body(self.vendor, response)
        code = body.get("errorCode")
        if code == 0:
            return body
        message = f"fxiaoke: errorCode {code}: {body.get('errorMessage')}"
        if logging_in:
            raise AuthFailed(message)
        if code == TOKEN_EXPIRED:
            raise TokenExpired(message)
        if code == BURST_LIMITED:
            raise RateLimited(BURST_WINDOW_SECONDS)
        if code == DAILY_LIMITED:
            raise RateLimited(DAILY_RETRY_SECONDS, "daily")
        raise PermanentError(message)

    @property
    def _object(self) -> str:
        return str(self.config.get("object", "AccountObj"))

    def _query(self, filters: list[dict[str, Any]], limit: int,
               fields: list[str] | None = None) -> list[Any]:
        info: dict[str, Any] = {"limit": limit, "offset": 0, "filters": filters,
                                "orders": [{"fieldName": "_id", "isAsc": True}]}
        if fields:
            info["fieldProjection"] = fields
        body = self.call("POST", "/cgi/crm/v2/data/query", json={"data": {
            "dataObjectApiName": self._object, "find_explicit_total_num": False,
            "search_query_info": info}})
        return list(body["data"]["dataList"])

    def _scan(self, filters: list[dict[str, Any]], cursor: str | None, limit: int,
              fields: list[str] | None = None) -> tuple[list[Any], str | None]:
        keyset = [{"field_name": "_id", "operator": "GT", "field_values": [cursor]}] if cursor \
            else []
        rows = self._query(filters + keyset, limit, fields)
        return rows, (str(rows[-1]["_id"]) if len(rows) == limit else None)

    def pull(self, since: Watermark | None, *, object_type: str = "customer",
             page_size: int | None = None) -> Iterator[ChangePage]:
        limit = clamp_page_size(page_size, self.capabilities)

        def fetch(start: datetime | None, cursor: Any) -> tuple[list[RawChange], Any]:
            filters = [] if start is None else [{
                "field_name": "last_modified_time", "operator": "GTE",
                "field_values": [str(to_epoch_ms(start))]}]
            rows, following = self._scan(filters, cursor, limit)
            return [self._change(row) for row in rows], following
        return walk_id_scan(fetch, since, overlap_ms=self.capabilities.overlap_ms,
                            server_time=lambda: self.server_time)

    def _change(self, row: Mapping[str, Any]) -> RawChange:
        voided = row.get("life_status") == "invalid" or bool(row.get("is_deleted"))
        return RawChange(str(row["_id"]), from_epoch_ms(row["last_modified_time"]),
                         "delete" if voided else "upsert", {} if voided else dict(row))

    def fetch(self, external_ids: Sequence[str], *,
              object_type: str = "customer") -> Iterator[RawChange]:
        def found() -> Iterator[RawChange]:
            for chunk in chunked(list(external_ids), 100):
                rows = self._query([{"field_name": "_id", "operator": "IN",
                                     "field_values": list(chunk)}], 100)
                yield from (self._change(row) for row in rows)
        return with_missing_as_deletes(external_ids, found())

    def list_ids(self, *, object_type: str = "customer") -> Iterator[str]:
        cursor = None
        while True:
            rows, cursor = self._scan([], cursor, 100, fields=["_id"])
            yield from (str(row["_id"]) for row in rows)
            if cursor is None:
                return

    def describe(self, *, object_type: str = "customer") -> Sequence[Mapping[str, Any]]:
        body = self.call("POST", "/cgi/crm/v2/object/describe",
                         json={"data": {"apiName": self._object}})
        fields = body["data"]["describe"]["fields"]
        return [{"name": name, "label": field["label"], "type": field["type"]}
                for name, field in fields.items()]


def factory(config: Mapping[str, Any], client: httpx.Client | None = None) -> FxiaokeAdapter:
    return FxiaokeAdapter(config, client)
