"""销售易 Xiaoshouyi (NeoCRM): XOQL over REST, OAuth 2.0 password grant.

Public documentation is thin; shapes follow integration code and are marked where assumed.
* Auth: ``/auc/oauth2/token`` with ``grant_type=password`` (password + security token).
* Changes: ``select … from account where updatedAt >= <ms> and id > <last> order by id
  limit 0,100``: XOQL orders only by ``id``, so this is an id-ordered scan with keyset paging.
* Envelope: ``{code: 200, msg, result: {totalSize, count, records}}``; a non-200 ``code`` is
  a failure even under HTTP 200. Assumed: HTTP 401 = token expired; ``code`` 1020025 = too
  many requests (the platform's throttle code in integration code; waits a minute).
* Deletes: no feed (``NONE``): ``list_ids`` sweeps.
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

THROTTLED_CODE = 1020025
THROTTLE_RETRY_SECONDS = 60.0
DEFAULT_FIELDS = ("id", "accountName", "phone", "email", "ownerId", "level",
                  "customItem158__c", "customItem160__c", "updatedAt")


class XiaoshouyiAdapter(HttpAdapter):
    vendor = "xiaoshouyi"
    capabilities = Capabilities(
        server_side_since=True, delete_signal=DeleteSignal.NONE, max_page_size=100,
        timestamp_resolution_ms=1, overlap_ms=5000)

    def log_in(self) -> Login:
        response = self.send("POST", f"{self.config['login_url']}/auc/oauth2/token", data={
            "grant_type": "password", "client_id": self.config["client_id"],
            "client_secret": self.config["client_secret"], "username": self.config["username"],
            "password": f"{self.config['password']}{self.config.get('security_token', '')}"})
        body = json_body(self.vendor, response)
        if response.status_code != 200 or "access_token" not in body:
            raise AuthFailed(f"xiaoshouyi: token refused: {body}")
        return Login(body["access_token"], str(self.config["api_url"]))

    def decode(self, response: httpx.Response) -> Any:
        if response.status_code == 401:
            raise TokenExpired("xiaoshouyi: HTTP 401")
        body = json_body(self.vendor, response)
        code = body.get("code")
        if response.status_code == 200 and code == 200:
            return body["result"]
        message = f"xiaoshouyi: HTTP {response.status_code} code {code}: {body.get('msg')}"
        if code == THROTTLED_CODE:
            raise RateLimited(THROTTLE_RETRY_SECONDS)
        if response.status_code == 403:
            raise AuthFailed(message)
        raise PermanentError(message)

    def _select(self, fields: Sequence[str], where: list[str], limit: int) -> list[Any]:
        # XOQL for the vendor's API, not our database: the object name is checked, and
        # conditions hold only integers formatted here.
        xoql = f"select {','.join(fields)} from {self._object}"  # noqa: S608
        if where:
            xoql += " where " + " and ".join(where)
        result = self.call("GET", "/rest/data/v2/query",
                           params={"q": f"{xoql} order by id limit 0,{limit}"})
        return list(result["records"])

    @property
    def _object(self) -> str:
        name = str(self.config.get("object", "account"))
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            raise PermanentError(f"xiaoshouyi: {name!r} is not an object name")
        return name

    def _scan(self, where: list[str], cursor: Any, limit: int,
              fields: Sequence[str]) -> tuple[list[Any], Any]:
        rows = self._select(fields, where + ([f"id > {int(cursor)}"] if cursor else []), limit)
        return rows, (rows[-1]["id"] if len(rows) == limit else None)

    def pull(self, since: Watermark | None, *, object_type: str = "customer",
             page_size: int | None = None) -> Iterator[ChangePage]:
        limit = clamp_page_size(page_size, self.capabilities)
        fields = self.config.get("fields", DEFAULT_FIELDS)

        def fetch(start: datetime | None, cursor: Any) -> tuple[list[RawChange], Any]:
            where = [] if start is None else [f"updatedAt >= {to_epoch_ms(start)}"]
            rows, following = self._scan(where, cursor, limit, fields)
            return [self._change(row) for row in rows], following
        return walk_id_scan(fetch, since, overlap_ms=self.capabilities.overlap_ms,
                            server_time=lambda: self.server_time)

    def _change(self, row: Mapping[str, Any]) -> RawChange:
        return RawChange(str(row["id"]), from_epoch_ms(row["updatedAt"]), "upsert", dict(row))

    def fetch(self, external_ids: Sequence[str], *,
              object_type: str = "customer") -> Iterator[RawChange]:
        fields = self.config.get("fields", DEFAULT_FIELDS)

        def found() -> Iterator[RawChange]:
            for chunk in chunked([str(int(external_id)) for external_id in external_ids], 100):
                rows = self._select(fields, [f"id in ({','.join(chunk)})"], 100)
                yield from (self._change(row) for row in rows)
        return with_missing_as_deletes(external_ids, found())

    def list_ids(self, *, object_type: str = "customer") -> Iterator[str]:
        cursor = None
        while True:
            rows, cursor = self._scan([], cursor, 100, ["id"])
            yield from (str(row["id"]) for row in rows)
            if cursor is None:
                return

    def describe(self, *, object_type: str = "customer") -> Sequence[Mapping[str, Any]]:
        result = self.call("GET", f"/rest/data/v2.0/xobjects/{self._object}/description")
        return [{"name": f["apiKey"], "label": f["label"], "type": f["type"]}
                for f in result["fields"]]


def factory(config: Mapping[str, Any], client: httpx.Client | None = None) -> XiaoshouyiAdapter:
    return XiaoshouyiAdapter(config, client)
