"""金蝶云星空 Kingdee Cloud Galaxy (K3Cloud) Web API, customer master ``BD_Customer``.

* Auth: ``LoginByAppSecret`` gives a session id sent as the ``kdservice-sessionid`` cookie.
* Changes: ``ExecuteBillQuery`` with ``FilterString FModifyDate>='…'`` ordered by
  ``FModifyDate, FCUSTID``, ``StartRow``/``Limit`` ≤ 2000; rows are positional arrays in
  ``FieldKeys`` order, zipped into objects here. Offsets shift when rows change, so each page
  restarts from the newest time seen (:func:`~crm_bridge.adapters.base.walk_time_windows`).
* Times are naive server-local wall clock (``2025-05-06T15:08:09.12``), read in
  ``source_timezone`` (default Asia/Shanghai).
* Everything answers HTTP 200; failures are ``[[{"Result": {"ResponseStatus": {IsSuccess:
  false, MsgCode, Errors}}}]]``: MsgCode 1 = session lost (log in again), 14 = call limit.
* Deletes: base data is hard-deleted with no feed (``NONE``): ``list_ids`` sweeps; disabled
  customers (``FForbidStatus = 'B'``) are reported as deletes.
"""

from __future__ import annotations

import re
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
    since_instant,
    walk_time_windows,
    with_missing_as_deletes,
)
from crm_bridge.adapters.timestamps import format_iso_utc, format_naive_local, parse_naive_local
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

SERVICES = "/k3cloud/Kingdee.BOS.WebApi.ServicesStub"
DEFAULT_FIELDS = ("FCUSTID", "FNumber", "FName", "FShortName", "FTEL", "FADDRESS",
                  "FSELLER.FName", "F_ABC_Tier", "FModifyDate", "FForbidStatus")
SESSION_LOST, CALL_LIMIT = 1, 14
CALL_LIMIT_RETRY_SECONDS = 60.0


class KingdeeAdapter(HttpAdapter):
    vendor = "kingdee"
    capabilities = Capabilities(
        server_side_since=True, delete_signal=DeleteSignal.NONE, max_page_size=2000,
        timestamp_resolution_ms=1000, overlap_ms=2000, source_timezone="Asia/Shanghai")

    @property
    def _zone(self) -> str:
        return str(self.config.get("source_timezone", self.capabilities.source_timezone))

    @property
    def _fields(self) -> list[str]:
        fields = list(self.config.get("fields", DEFAULT_FIELDS))
        for name in fields:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name):
                raise PermanentError(f"kingdee: {name!r} is not a field key")
        return fields

    def log_in(self) -> Login:
        base = str(self.config["base_url"])
        response = self.send("POST", f"{base}{SERVICES}.AuthService.LoginByAppSecret.common.kdsvc",
                             json={"acctid": self.config["acct_id"],
                                   "username": self.config["username"],
                                   "appid": self.config["app_id"],
                                   "appsecret": self.config["app_secret"],
                                   "lcid": self.config.get("lcid", 2052)})
        body = json_body(self.vendor, response)
        if body.get("LoginResultType") != 1:
            raise AuthFailed(f"kingdee: login refused: {body.get('Message')}")
        return Login(str(body["KDSVCSessionId"]), base)

    def authorize(self, login: Login, request: dict[str, Any]) -> dict[str, Any]:
        request["headers"] = {**request.get("headers", {}),
                              "Cookie": f"kdservice-sessionid={login.token}"}
        return request

    def decode(self, response: httpx.Response) -> Any:
        body = json_body(self.vendor, response)
        status = _response_status(body)
        if status is None or status.get("IsSuccess"):
            return body
        errors = "; ".join(str(e.get("Message")) for e in status.get("Errors", []))
        message = f"kingdee: MsgCode {status.get('MsgCode')}: {errors}"
        if status.get("MsgCode") == SESSION_LOST:
            raise TokenExpired(message)
        if status.get("MsgCode") == CALL_LIMIT:
            raise RateLimited(CALL_LIMIT_RETRY_SECONDS)
        raise PermanentError(message)

    def _query(self, fields: list[str], filter_string: str, order: str, start_row: int,
               limit: int) -> list[dict[str, Any]]:
        rows = self.call("POST", f"{SERVICES}.DynamicFormService.ExecuteBillQuery.common.kdsvc",
                         json={"data": {"FormId": self.config.get("form_id", "BD_Customer"),
                                        "FieldKeys": ",".join(fields),
                                        "FilterString": filter_string, "OrderString": order,
                                        "TopRowCount": 0, "StartRow": start_row,
                                        "Limit": limit}})
        return [dict(zip(fields, row, strict=True)) for row in rows]

    def pull(self, since: Watermark | None, *, object_type: str = "customer",
             page_size: int | None = None) -> Iterator[ChangePage]:
        limit = clamp_page_size(page_size, self.capabilities)

        def fetch(edge: datetime | None, start_row: Any) -> tuple[list[RawChange], Any]:
            condition = "" if edge is None else \
                f"FModifyDate>='{format_naive_local(edge, self._zone)}'"
            rows = self._query(self._fields, condition, "FModifyDate ASC,FCUSTID ASC",
                               start_row or 0, limit)
            following = (start_row or 0) + limit if len(rows) == limit else None
            return [self._change(row) for row in rows], following
        for page in walk_time_windows(fetch, since_instant(since, self.capabilities.overlap_ms)):
            value = format_iso_utc(page.covered) if page.covered else None
            yield ChangePage(page.changes, Watermark("timestamp", value), page.done)

    def _change(self, row: Mapping[str, Any]) -> RawChange:
        disabled = row.get("FForbidStatus") == "B"
        return RawChange(str(row["FCUSTID"]), parse_naive_local(row["FModifyDate"], self._zone),
                         "delete" if disabled else "upsert", {} if disabled else dict(row))

    def fetch(self, external_ids: Sequence[str], *,
              object_type: str = "customer") -> Iterator[RawChange]:
        def found() -> Iterator[RawChange]:
            for chunk in chunked([str(int(external_id)) for external_id in external_ids], 500):
                rows = self._query(self._fields, f"FCUSTID IN ({','.join(chunk)})",
                                   "FCUSTID ASC", 0, 2000)
                yield from (self._change(row) for row in rows)
        return with_missing_as_deletes(external_ids, found())

    def list_ids(self, *, object_type: str = "customer") -> Iterator[str]:
        start_row = 0
        while True:
            rows = self._query(["FCUSTID"], "", "FCUSTID ASC", start_row, 2000)
            yield from (str(row["FCUSTID"]) for row in rows)
            if len(rows) < 2000:
                return
            start_row += 2000

    def describe(self, *, object_type: str = "customer") -> Sequence[Mapping[str, Any]]:
        body = self.call("POST", f"{SERVICES}.DynamicFormService.QueryBusinessInfo.common.kdsvc",
                         json={"data": {"FormId": self.config.get("form_id", "BD_Customer")}})
        fields = body["Result"]["NeedReturnData"]["Entrys"][0]["Fields"]
        return [{"name": f["Key"], "label": _label(f["Name"]), "type": f["FieldType"]}
                for f in fields]


def _response_status(body: Any) -> Mapping[str, Any] | None:
    """The ``ResponseStatus`` of an answer, found at top level or inside a query's rows."""
    if isinstance(body, list) and body and isinstance(body[0], list) and body[0] \
            and isinstance(body[0][0], dict):
        body = body[0][0]
    if isinstance(body, dict) and isinstance(body.get("Result"), dict):
        return body["Result"].get("ResponseStatus")
    return None


def _label(names: Sequence[Mapping[str, Any]]) -> str:
    by_locale = {entry["Key"]: entry["Value"] for entry in names}
    return str(by_locale.get(2052) or next(iter(by_locale.values()), ""))


def factory(config: Mapping[str, Any], client: httpx.Client | None = None) -> KingdeeAdapter:
    return KingdeeAdapter(config, client)
