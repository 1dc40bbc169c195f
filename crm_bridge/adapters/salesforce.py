"""Salesforce: SOQL over the REST API, OAuth 2.0 client credentials.

* Changes: ``SystemModstamp >= since`` ordered by ``SystemModstamp, Id``, paged with the
  ``nextRecordsUrl`` locator (a server-side snapshot, so it is followed to the end).
* Deletes: ``queryAll`` with ``IsDeleted = true`` (recycle bin and merges), in the same pull.
* Errors: a JSON *array* of ``{message, errorCode}``; 401 ``INVALID_SESSION_ID`` means the
  token expired; 403 ``REQUEST_LIMIT_EXCEEDED`` is the rolling 24-hour allocation (no
  ``Retry-After``), so it is reported as a daily limit.
* Push-back: a completed Task upserted by an External Id field, so the same event key
  converges on one Task (``native_key``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from crm_bridge.adapters.base import (
    HttpAdapter,
    Login,
    TimePage,
    chunked,
    clamp_page_size,
    json_body,
    pull_then_deletes,
    since_instant,
    walk_time_windows,
    with_missing_as_deletes,
)
from crm_bridge.adapters.timestamps import parse_iso
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

DEFAULT_FIELDS = ("Id", "FirstName", "LastName", "Name", "Email", "Phone", "MobilePhone",
                  "Account.Name", "OwnerId", "Owner.Name", "Customer_Tier__c",
                  "Lifetime_Value__c", "Tags__c", "SystemModstamp")
#: Salesforce allocates API calls per rolling 24 hours and gives no reset time.
DAILY_LIMIT_RETRY_SECONDS = 3600.0
IDS_PER_QUERY = 200  # keeps the SOQL in the URL well under its length limit


class SalesforceAdapter(HttpAdapter):
    vendor = "salesforce"
    capabilities = Capabilities(
        server_side_since=True, delete_signal=DeleteSignal.IN_PULL, max_page_size=2000,
        timestamp_resolution_ms=1000, overlap_ms=2000, can_push=True,
        push_idempotency="native_key")

    @property
    def _api(self) -> str:
        return f"/services/data/{self.config.get('api_version', 'v62.0')}"

    @property
    def _object(self) -> str:
        return api_name(str(self.config.get("object", "Contact")))

    @property
    def _fields(self) -> str:
        return ", ".join(api_name(name) for name in self.config.get("fields", DEFAULT_FIELDS))

    def log_in(self) -> Login:
        response = self.send("POST", f"{self.config['login_url']}/services/oauth2/token", data={
            "grant_type": "client_credentials", "client_id": self.config["client_id"],
            "client_secret": self.config["client_secret"]})
        body = json_body(self.vendor, response)
        if response.status_code != 200:
            raise AuthFailed(f"salesforce: {body.get('error')}: {body.get('error_description')}")
        return Login(body["access_token"], body["instance_url"])

    def decode(self, response: httpx.Response) -> Any:
        if response.status_code == 204:
            return {}
        body = json_body(self.vendor, response)
        if response.status_code < 400:
            return body
        errors = body if isinstance(body, list) else [body]
        code = str(errors[0].get("errorCode", "")) if errors else ""
        message = f"salesforce: HTTP {response.status_code} {code}: {errors[0].get('message')}"
        if code == "INVALID_SESSION_ID":
            raise TokenExpired(message)
        if code == "REQUEST_LIMIT_EXCEEDED":
            raise RateLimited(DAILY_LIMIT_RETRY_SECONDS, "daily")
        if response.status_code in (401, 403):
            raise AuthFailed(message)
        raise PermanentError(message)

    # Reading ---------------------------------------------------------------------------------

    def pull(self, since: Watermark | None, *, object_type: str = "customer",
             page_size: int | None = None) -> Iterator[ChangePage]:
        overlap = self.capabilities.overlap_ms
        upserts = walk_time_windows(
            self._soql_pages("query", self._fields, page_size),
            since_instant(since, overlap), rewindow=False)
        return pull_then_deletes(upserts, self._deletions(page_size), since, overlap)

    def _soql_pages(self, endpoint: str, fields: str, size: int | None,
                    condition: str = "") -> Any:
        batch = clamp_page_size(size, self.capabilities)

        def fetch(edge: datetime | None, locator: Any) -> tuple[list[RawChange], Any]:
            if locator is None:
                where = [condition] if condition else []
                if edge is not None:
                    where.append(f"SystemModstamp >= {soql_datetime(edge)}")
                body = self.call("GET", f"{self._api}/{endpoint}/",
                                 params={"q": soql(fields, self._object, where,
                                                   "SystemModstamp, Id")},
                                 headers={"Sforce-Query-Options": f"batchSize={batch}"})
            else:
                body = self.call("GET", locator)
            changes = [self._change(record) for record in body["records"]]
            return changes, None if body["done"] else body["nextRecordsUrl"]
        return fetch

    def _deletions(self, size: int | None) -> Any:
        def read(start: datetime | None) -> Iterator[TimePage]:
            fetch = self._soql_pages("queryAll", "Id, SystemModstamp", size,
                                     condition="IsDeleted = true")
            return walk_time_windows(fetch, start, rewindow=False)
        return read

    def _change(self, record: Mapping[str, Any]) -> RawChange:
        raw = {key: value for key, value in record.items() if key != "attributes"}
        deleted = bool(raw.get("IsDeleted"))
        return RawChange(str(raw["Id"]), parse_iso(raw["SystemModstamp"]),
                         "delete" if deleted else "upsert", {} if deleted else raw)

    def fetch(self, external_ids: Sequence[str], *,
              object_type: str = "customer") -> Iterator[RawChange]:
        def found() -> Iterator[RawChange]:
            for chunk in chunked(list(external_ids), IDS_PER_QUERY):
                ids = ", ".join(soql_string(external_id) for external_id in chunk)
                body = self.call("GET", f"{self._api}/query/", params={
                    "q": soql(self._fields, self._object, [f"Id IN ({ids})"])})
                yield from (self._change(record) for record in body["records"])
        return with_missing_as_deletes(external_ids, found())

    def list_ids(self, *, object_type: str = "customer") -> Iterator[str]:
        body = self.call("GET", f"{self._api}/query/",
                         params={"q": soql("Id", self._object, [], "Id")})
        while True:
            yield from (str(record["Id"]) for record in body["records"])
            if body["done"]:
                return
            body = self.call("GET", body["nextRecordsUrl"])

    def describe(self, *, object_type: str = "customer") -> Sequence[Mapping[str, Any]]:
        body = self.call("GET", f"{self._api}/sobjects/{self._object}/describe/")
        return [{"name": f["name"], "label": f["label"], "type": f["type"]}
                for f in body["fields"]]

    # Writing ---------------------------------------------------------------------------------

    def push_interaction(self, event: InteractionEvent) -> PushResult:
        key_field = api_name(self.config.get("task_event_id_field", "Helpdesk_Event_Id__c"))
        key = quote(event.idempotency_key, safe="")
        body = self.call(
            "PATCH", f"{self._api}/sobjects/Task/{key_field}/{key}",
            json={"WhoId": event.customer_external_id, "Subject": event.subject[:255],
                  "Description": "\n\n".join(filter(None, [event.body, event.ticket_url])),
                  "Status": "Completed", "ActivityDate": event.occurred_at.date().isoformat()})
        return PushResult(str(body["id"]), bool(body.get("created")))


def soql(fields: str, sobject: str, where: list[str], order: str | None = None) -> str:
    """A SOQL query for the vendor's API (not our database): names pass :func:`api_name`,
    values pass :func:`soql_string` or :func:`soql_datetime`."""
    query = f"SELECT {fields} FROM {sobject}"  # noqa: S608
    if where:
        query += " WHERE " + " AND ".join(where)
    return query + (f" ORDER BY {order}" if order else "")


def api_name(name: str) -> str:
    """A Salesforce API name (``Account.Name``, ``Tier__c``) from config, checked."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*", name):
        raise PermanentError(f"salesforce: {name!r} is not an API name")
    return name


def soql_datetime(moment: datetime) -> str:
    """SOQL datetime literals are unquoted, second precision, with a zone designator."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def soql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def factory(config: Mapping[str, Any], client: httpx.Client | None = None) -> SalesforceAdapter:
    return SalesforceAdapter(config, client)
