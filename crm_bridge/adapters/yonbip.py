"""用友 YonBIP / YonSuite customer archive (客户档案) over the open API gateway.

* Auth: ``selfAppAuth/getAccessToken`` with ``appKey``, a millisecond ``timestamp`` and
  ``signature`` = base64(HMAC-SHA256(appSecret, "appKey<key>timestamp<ms>")); the token goes
  in the ``access_token`` query parameter and lives two hours.
* Changes: ``merchant/newlist`` with ``pubts`` (≥, naive ``yyyy-MM-dd HH:mm:ss`` in the
  tenant's zone) and ``pageIndex``/``pageSize`` ≤ 5000. No documented order, so this is a
  scan whose watermark advances when it ends. Page-index paging can skip a row if another is
  deleted mid-scan; the next scan or a ``list_ids`` sweep makes up for it.
* Envelope ``{code: "200", message, data}`` under HTTP 200 (the token endpoint uses
  ``"00000"``). Assumed from gateway behaviour, not confirmed in vendor docs: code
  ``1090003500065`` = token expired, ``1090003500429`` = throttled (retry after a minute).
* Deletes: none visible (``NONE``): ``list_ids`` sweeps; ``stopStatus`` true = deactivated,
  reported as a delete.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from crm_bridge.adapters.base import (
    HttpAdapter,
    Login,
    clamp_page_size,
    json_body,
    walk_id_scan,
    with_missing_as_deletes,
)
from crm_bridge.adapters.timestamps import format_naive_local, parse_naive_local
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

TOKEN_EXPIRED, THROTTLED, NOT_FOUND = "1090003500065", "1090003500429", "1090003500404"
THROTTLE_RETRY_SECONDS = 60.0
LIST = "/yonbip/digitalModel/merchant/newlist"

# Static: the open API has no field-metadata endpoint for the customer archive.
FIELD_CATALOGUE = (
    ("id", "客户ID", "long"), ("code", "客户编码", "string"),
    ("name.simplifiedName", "客户名称", "string"), ("contactName", "联系人", "string"),
    ("contactTel", "联系电话", "string"), ("email", "邮箱", "string"),
    ("customerClassCode", "客户分类", "string"), ("stopStatus", "停用", "boolean"),
    ("pubts", "时间戳", "datetime"))


class YonBipAdapter(HttpAdapter):
    vendor = "yonbip"
    capabilities = Capabilities(
        server_side_since=True, delete_signal=DeleteSignal.NONE, max_page_size=5000,
        timestamp_resolution_ms=1000, overlap_ms=2000, source_timezone="Asia/Shanghai")

    @property
    def _zone(self) -> str:
        return str(self.config.get("source_timezone", self.capabilities.source_timezone))

    def log_in(self) -> Login:
        timestamp = str(int(time.time() * 1000))
        app_key = str(self.config["app_key"])
        signature = base64.b64encode(hmac.new(
            str(self.config["app_secret"]).encode(),
            f"appKey{app_key}timestamp{timestamp}".encode(), hashlib.sha256).digest()).decode()
        base = str(self.config["base_url"])
        response = self.send("GET", f"{base}/open-auth/selfAppAuth/getAccessToken", params={
            "appKey": app_key, "timestamp": timestamp, "signature": signature})
        body = json_body(self.vendor, response)
        if body.get("code") != "00000":
            raise AuthFailed(f"yonbip: token refused: {body.get('message')}")
        return Login(str(body["data"]["access_token"]), base)

    def authorize(self, login: Login, request: dict[str, Any]) -> dict[str, Any]:
        request["params"] = {**request.get("params", {}), "access_token": login.token}
        return request

    def decode(self, response: httpx.Response) -> Any:
        body = json_body(self.vendor, response)
        code = str(body.get("code"))
        if code == "200":
            return body["data"]
        message = f"yonbip: code {code}: {body.get('message')}"
        if code == TOKEN_EXPIRED:
            raise TokenExpired(message)
        if code == THROTTLED:
            raise RateLimited(THROTTLE_RETRY_SECONDS)
        if code == NOT_FOUND:
            return None
        raise PermanentError(message)

    def _page(self, index: int, size: int, pubts: datetime | None) -> tuple[list[Any], Any]:
        query: dict[str, Any] = {"pageIndex": index, "pageSize": size}
        if pubts is not None:
            query["pubts"] = format_naive_local(pubts, self._zone)
        data = self.call("POST", LIST, json=query)
        return list(data["recordList"]), (index + 1 if index < data["pageCount"] else None)

    def pull(self, since: Watermark | None, *, object_type: str = "customer",
             page_size: int | None = None) -> Iterator[ChangePage]:
        size = clamp_page_size(page_size, self.capabilities)

        def fetch(start: datetime | None, page_index: Any) -> tuple[list[RawChange], Any]:
            rows, following = self._page(page_index or 1, size, start)
            return [self._change(row) for row in rows], following
        return walk_id_scan(fetch, since, overlap_ms=self.capabilities.overlap_ms,
                            server_time=lambda: self.server_time)

    def _change(self, row: Mapping[str, Any]) -> RawChange:
        stopped = bool(row.get("stopStatus"))
        return RawChange(str(row["id"]), parse_naive_local(row["pubts"], self._zone),
                         "delete" if stopped else "upsert", {} if stopped else dict(row))

    def fetch(self, external_ids: Sequence[str], *,
              object_type: str = "customer") -> Iterator[RawChange]:
        def found() -> Iterator[RawChange]:
            for external_id in external_ids:  # the archive detail reads one id at a time
                row = self.call("GET", "/yonbip/digitalModel/merchant/detail",
                                params={"id": external_id})
                if row is not None:
                    yield self._change(row)
        return with_missing_as_deletes(external_ids, found())

    def list_ids(self, *, object_type: str = "customer") -> Iterator[str]:
        index: Any = 1
        while index is not None:
            rows, index = self._page(index, self.capabilities.max_page_size, None)
            yield from (str(row["id"]) for row in rows)

    def describe(self, *, object_type: str = "customer") -> Sequence[Mapping[str, Any]]:
        return [{"name": name, "label": label, "type": kind}
                for name, label, kind in FIELD_CATALOGUE]


def factory(config: Mapping[str, Any], client: httpx.Client | None = None) -> YonBipAdapter:
    return YonBipAdapter(config, client)
