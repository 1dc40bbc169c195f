"""HubSpot CRM v3: contacts via the search API, OAuth refresh tokens or a private-app token.

* Changes: search ``lastmodifieddate GTE <epoch ms>`` sorted ascending, 200 per page. Search
  ``after`` is an offset capped at 10,000 results, so each page re-issues the search from the
  newest time seen (:func:`~crm_bridge.adapters.base.walk_time_windows`).
* Search is eventually consistent (fresh writes appear after seconds), hence a 30 s overlap.
* Deletes: the ``archived=true`` list (``archivedAt``). GDPR deletions leave no archived
  record: only the ``contact.privacyDeletion`` webhook or a ``list_ids`` sweep reveals them.
* Errors: ``{status: "error", category, message}``; 401 ``EXPIRED_AUTHENTICATION`` means the
  OAuth token expired; 429 ``RATE_LIMITS`` with ``policyName`` (``DAILY`` or a rolling window).
* Push-back: a note associated with the contact, carrying the event key in a custom
  ``helpdesk_event_id`` property that is searched before creating (``unique_field``).
* Webhooks: ``X-HubSpot-Signature-v3``, HMAC-SHA256 of method, URL, body and timestamp with
  the app secret; older than five minutes is a replay.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

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
from crm_bridge.adapters.timestamps import format_iso_utc, parse_iso, to_epoch_ms
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
    TokenExpired,
    Watermark,
)

DEFAULT_PROPERTIES = ("email", "firstname", "lastname", "phone", "mobilephone", "company",
                      "hubspot_owner_id", "customer_tier", "lifetime_value", "tags",
                      "lastmodifieddate")
CONTACTS = "/crm/v3/objects/contacts"
NOTE_TO_CONTACT = 202  # HubSpot-defined association type id
BURST_WINDOW_SECONDS = 10.0
DAILY_RETRY_SECONDS = 3600.0
WEBHOOK_MAX_AGE_MS = 5 * 60 * 1000
_DELETE_EVENTS = {"contact.deletion", "contact.privacyDeletion"}


class HubSpotAdapter(HttpAdapter):
    vendor = "hubspot"
    capabilities = Capabilities(
        server_side_since=True, delete_signal=DeleteSignal.IN_PULL, max_page_size=200,
        timestamp_resolution_ms=1, overlap_ms=30_000, has_webhooks=True, can_push=True,
        push_idempotency="unique_field")

    def log_in(self) -> Login:
        base = str(self.config.get("base_url", "https://api.hubapi.com"))
        if self.config.get("access_token"):  # private app: a static token
            return Login(str(self.config["access_token"]), base)
        response = self.send("POST", f"{base}/oauth/v1/token", data={
            "grant_type": "refresh_token", "client_id": self.config["client_id"],
            "client_secret": self.config["client_secret"],
            "refresh_token": self.config["refresh_token"]})
        body = json_body(self.vendor, response)
        if response.status_code != 200:
            raise AuthFailed(f"hubspot: token refused: {body.get('message')}")
        return Login(body["access_token"], base)

    def decode(self, response: httpx.Response) -> Any:
        body = json_body(self.vendor, response) if response.content else {}
        if response.status_code < 400:
            return body
        category = str(body.get("category", ""))
        message = f"hubspot: HTTP {response.status_code} {category}: {body.get('message')}"
        if category == "EXPIRED_AUTHENTICATION":
            raise TokenExpired(message)
        if response.status_code == 429:
            if body.get("policyName") == "DAILY":
                raise RateLimited(DAILY_RETRY_SECONDS, "daily")
            raise RateLimited(retry_after_seconds(response, default=BURST_WINDOW_SECONDS))
        if response.status_code in (401, 403):
            raise AuthFailed(message)
        raise PermanentError(message)

    @property
    def _properties(self) -> list[str]:
        return list(self.config.get("properties", DEFAULT_PROPERTIES))

    def pull(self, since: Watermark | None, *, object_type: str = "customer",
             page_size: int | None = None) -> Iterator[ChangePage]:
        overlap = self.capabilities.overlap_ms
        upserts = walk_time_windows(self._search_pages(page_size), since_instant(since, overlap))
        return pull_then_deletes(upserts, self._archived, since, overlap)

    def _search_pages(self, size: int | None) -> Any:
        limit = clamp_page_size(size, self.capabilities)

        def fetch(edge: datetime | None, after: Any) -> tuple[list[RawChange], Any]:
            query: dict[str, Any] = {
                "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                "properties": self._properties, "limit": limit}
            if edge is not None:
                query["filterGroups"] = [{"filters": [{
                    "propertyName": "lastmodifieddate", "operator": "GTE",
                    "value": str(to_epoch_ms(edge))}]}]
            if after is not None:
                query["after"] = after
            body = self.call("POST", f"{CONTACTS}/search", json=query)
            following = body.get("paging", {}).get("next", {}).get("after")
            return [self._change(record) for record in body["results"]], following
        return fetch

    def _change(self, record: Mapping[str, Any]) -> RawChange:
        modified = record["properties"].get("lastmodifieddate") or record["updatedAt"]
        return RawChange(str(record["id"]), parse_iso(modified), "upsert", dict(record))

    def _archived(self, start: datetime | None) -> Iterator[TimePage]:
        """The archived list has no time filter or order: read it whole, keep the recent."""
        newest: datetime | None = None
        params: dict[str, Any] = {"archived": "true", "limit": 100}
        while True:
            body = self.call("GET", CONTACTS, params=params)
            changes = []
            for record in body["results"]:
                archived_at = parse_iso(record["archivedAt"])
                newest = max(newest, archived_at) if newest else archived_at
                if start is None or archived_at >= start:
                    changes.append(RawChange(str(record["id"]), archived_at, "delete", {}))
            following = body.get("paging", {}).get("next", {}).get("after")
            yield TimePage(changes, newest, done=following is None)
            if following is None:
                return
            params["after"] = following

    def fetch(self, external_ids: Sequence[str], *,
              object_type: str = "customer") -> Iterator[RawChange]:
        def found() -> Iterator[RawChange]:
            for chunk in chunked(list(external_ids), 100):
                body = self.call("POST", f"{CONTACTS}/batch/read", json={
                    "inputs": [{"id": external_id} for external_id in chunk],
                    "properties": self._properties})
                yield from (self._change(record) for record in body["results"])
        return with_missing_as_deletes(external_ids, found())

    def list_ids(self, *, object_type: str = "customer") -> Iterator[str]:
        params: dict[str, Any] = {"limit": 100}
        while True:
            body = self.call("GET", CONTACTS, params=params)
            yield from (str(record["id"]) for record in body["results"])
            following = body.get("paging", {}).get("next", {}).get("after")
            if following is None:
                return
            params["after"] = following

    def describe(self, *, object_type: str = "customer") -> Sequence[Mapping[str, Any]]:
        body = self.call("GET", "/crm/v3/properties/contacts")
        return [{"name": p["name"], "label": p["label"], "type": p["type"]}
                for p in body["results"]]

    def push_interaction(self, event: InteractionEvent) -> PushResult:
        found = self.call("POST", "/crm/v3/objects/notes/search", json={
            "filterGroups": [{"filters": [{"propertyName": "helpdesk_event_id", "operator": "EQ",
                                           "value": event.idempotency_key}]}], "limit": 1})
        if found["results"]:
            return PushResult(str(found["results"][0]["id"]), created=False)
        body = "\n\n".join(filter(None, [event.subject, event.body, event.ticket_url]))
        note = self.call("POST", "/crm/v3/objects/notes", json={
            "properties": {"hs_timestamp": format_iso_utc(event.occurred_at),
                           "hs_note_body": body, "helpdesk_event_id": event.idempotency_key},
            "associations": [{"to": {"id": event.customer_external_id}, "types": [{
                "associationCategory": "HUBSPOT_DEFINED",
                "associationTypeId": NOTE_TO_CONTACT}]}]})
        return PushResult(str(note["id"]), created=True)

    def verify_and_decode(self, *, headers: Mapping[str, str], query: Mapping[str, str],
                          body: bytes) -> Sequence[ChangeHint]:
        lowered = {key.lower(): value for key, value in headers.items()}
        timestamp = lowered.get("x-hubspot-request-timestamp", "")
        signature = lowered.get("x-hubspot-signature-v3", "")
        if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > WEBHOOK_MAX_AGE_MS:
            raise AuthFailed("hubspot webhook: missing or stale timestamp (replay?)")
        url = str(self.config["webhook_url"]) + (f"?{urlencode(query)}" if query else "")
        expected = base64.b64encode(hmac.new(
            str(self.config["client_secret"]).encode(),
            b"POST" + url.encode() + body + timestamp.encode(), hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, signature):
            raise AuthFailed("hubspot webhook: bad signature")
        return [ChangeHint("customer", [str(event["objectId"])],
                           "delete" if event.get("subscriptionType") in _DELETE_EVENTS
                           else "upsert", str(event.get("eventId")))
                for event in json.loads(body)]


def factory(config: Mapping[str, Any], client: httpx.Client | None = None) -> HubSpotAdapter:
    return HubSpotAdapter(config, client)
