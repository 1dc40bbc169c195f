"""腾讯企点 Tencent Qidian customer library (客户库), self-built app.

* Auth: ``getSelfBuildToken`` with sid, appid and secret; WeChat-style ``access_token`` query
  parameter and ``{errcode, errmsg}`` envelopes under HTTP 200: 42001 = token expired,
  45011 = per-minute limit, 45009 = daily quota.
* No changed-since filter and no delete feed: every pull is a full scan (``full_scan``
  watermark) walking ``getCustList``'s ``next_custid`` cursor and reading each customer's
  base info (identity, contact, controlInfo, udfInfo) one by one. ``updated_at`` is unknown
  (None); the bridge compares content. The cursor travels in ``extra`` so a crashed scan
  resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from crm_bridge.adapters.base import HttpAdapter, Login, json_body, with_missing_as_deletes
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

TOKEN_EXPIRED, MINUTE_LIMIT, DAILY_LIMIT, NO_SUCH_CUSTOMER = 42001, 45011, 45009, 40003
MINUTE_RETRY_SECONDS, DAILY_RETRY_SECONDS = 60.0, 3600.0
DETAIL_PARTS = ["identity", "contact", "socialAccount", "controlInfo", "udfInfo"]
FIELD_CATALOGUE = (
    ("identity.name", "姓名", "string"), ("identity.gender", "性别", "int"),
    ("contact.mobile", "手机", "list"), ("contact.email", "邮箱", "list"),
    ("controlInfo.owner", "负责人", "string"), ("udfInfo", "自定义字段", "object"))


class QidianAdapter(HttpAdapter):
    vendor = "qidian"
    capabilities = Capabilities(
        server_side_since=False, delete_signal=DeleteSignal.NONE, max_page_size=100,
        timestamp_resolution_ms=1000, overlap_ms=0)

    def log_in(self) -> Login:
        base = str(self.config.get("base_url", "https://api.qidian.qq.com"))
        body = json_body(self.vendor, self.send("GET", f"{base}/cgi-bin/token/getSelfBuildToken",
                                                params={"sid": self.config["sid"],
                                                        "appid": self.config["appid"],
                                                        "secret": self.config["secret"]}))
        if "access_token" not in body:
            raise AuthFailed(f"qidian: token refused: {body.get('errmsg')}")
        return Login(str(body["access_token"]), base)

    def authorize(self, login: Login, request: dict[str, Any]) -> dict[str, Any]:
        request["params"] = {**request.get("params", {}), "access_token": login.token}
        return request

    def decode(self, response: httpx.Response) -> Any:
        body = json_body(self.vendor, response)
        code = body.get("errcode", 0)
        if code in (0, NO_SUCH_CUSTOMER):
            return body
        message = f"qidian: errcode {code}: {body.get('errmsg')}"
        if code == TOKEN_EXPIRED:
            raise TokenExpired(message)
        if code == MINUTE_LIMIT:
            raise RateLimited(MINUTE_RETRY_SECONDS)
        if code == DAILY_LIMIT:
            raise RateLimited(DAILY_RETRY_SECONDS, "daily")
        raise PermanentError(message)

    def _list_page(self, cursor: str | None) -> tuple[list[str], str | None]:
        body = self.call("GET", "/cgi-bin/cust/cust_info/getCustList",
                         params={"next_custid": cursor or ""})
        return [str(cust_id) for cust_id in body["data"]], body.get("next_custid") or None

    def _detail(self, cust_id: str) -> RawChange | None:
        body = self.call("POST", "/cgi-bin/cust/cust_info/getSingCustBaseInfo",
                         json={"cust_id": cust_id, "data": DETAIL_PARTS})
        if body.get("errcode") == NO_SUCH_CUSTOMER:
            return None
        return RawChange(cust_id, None, "upsert", {"cust_id": cust_id, **body["data"]})

    def pull(self, since: Watermark | None, *, object_type: str = "customer",
             page_size: int | None = None) -> Iterator[ChangePage]:
        """A full scan every time; ``since`` only resumes an interrupted one."""
        cursor = since.extra.get("next_custid") if since and since.kind == "full_scan" else None
        while True:
            ids, cursor = self._list_page(cursor)
            changes = [change for change in map(self._detail, ids) if change is not None]
            if cursor is None:
                yield ChangePage(changes, Watermark("full_scan"), done=True)
                return
            yield ChangePage(changes, Watermark("full_scan", extra={"next_custid": cursor}),
                             done=False)

    def fetch(self, external_ids: Sequence[str], *,
              object_type: str = "customer") -> Iterator[RawChange]:
        found = (change for change in map(self._detail, external_ids) if change is not None)
        return with_missing_as_deletes(external_ids, found)

    def list_ids(self, *, object_type: str = "customer") -> Iterator[str]:
        cursor = None
        while True:
            ids, cursor = self._list_page(cursor)
            yield from ids
            if cursor is None:
                return

    def describe(self, *, object_type: str = "customer") -> Sequence[Mapping[str, Any]]:
        return [{"name": name, "label": label, "type": kind}
                for name, label, kind in FIELD_CATALOGUE]


def factory(config: Mapping[str, Any], client: httpx.Client | None = None) -> QidianAdapter:
    return QidianAdapter(config, client)
