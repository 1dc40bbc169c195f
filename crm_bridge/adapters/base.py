"""What every vendor adapter shares.

* :class:`HttpAdapter`: an httpx session that logs in on demand, turns the vendor's error
  envelope into contract errors (:mod:`crm_bridge.contract`), and when the vendor says the
  token expired, logs in again and repeats the request once.
* Two ways to walk a "changed since" query, chosen per vendor by what its API can sort by:
  :func:`walk_time_windows` for time-ordered results, :func:`walk_id_scan` for id-ordered ones.

Throttling is never retried here: an adapter raises :class:`~crm_bridge.contract.RateLimited`
with the vendor's wait, and the caller (sync loop, push job) decides whether to sleep, reschedule
or give up, because only it knows its own deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from crm_bridge.adapters.timestamps import format_iso_utc, minus_ms, parse_iso
from crm_bridge.contract import (
    AuthFailed,
    Capabilities,
    ChangePage,
    PermanentError,
    RateLimited,
    RawChange,
    TokenExpired,
    TransientError,
    Watermark,
)
from helpdesk.outbound_http import DestinationRefused

T = TypeVar("T")
DEFAULT_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Login:
    token: str
    base_url: str  # where the API lives for this tenant (Salesforce instance_url, Zoho api_domain)


class HttpAdapter:
    """Base of the vendor adapters: configuration, login, one transparent token refresh."""

    vendor: str
    capabilities: Capabilities

    def __init__(self, config: Mapping[str, Any], client: httpx.Client | None = None) -> None:
        self.config = config
        # Admin-entered URLs must not bounce us elsewhere, so redirects are never followed.
        self.http = client or httpx.Client(
            timeout=float(config.get("timeout", DEFAULT_TIMEOUT_SECONDS)), follow_redirects=False)
        self._login: Login | None = None
        #: The vendor's clock (HTTP ``Date``) at the latest response, for scan watermarks.
        self.server_time: datetime | None = None

    # Vendor hooks ---------------------------------------------------------------------------

    def log_in(self) -> Login:
        """Obtain a token; raise AuthFailed when the credentials are refused."""
        raise NotImplementedError

    def authorize(self, login: Login, request: dict[str, Any]) -> dict[str, Any]:
        """Put the token on a request (default: ``Authorization: Bearer``)."""
        request["headers"] = {**request.get("headers", {}),
                              "Authorization": f"Bearer {login.token}"}
        return request

    def decode(self, response: httpx.Response) -> Any:
        """The response body with the vendor's envelope removed, or a contract error."""
        raise NotImplementedError

    # Shared machinery -----------------------------------------------------------------------

    def call(self, method: str, path: str, **request: Any) -> Any:
        """Send one API request; ``path`` is relative to the tenant's base URL or absolute."""
        for attempt in range(2):
            if self._login is None:
                self._login = self.log_in()
            url = path if path.startswith(("http://", "https://")) else self._login.base_url + path
            response = self.send(method, url, **self.authorize(self._login, dict(request)))
            try:
                return self.decode(response)
            except TokenExpired:
                self._login = None
                if attempt:
                    raise AuthFailed(f"{self.vendor}: a fresh token was refused") from None
        raise AssertionError("unreachable")

    def send(self, method: str, url: str, **request: Any) -> httpx.Response:
        """One HTTP exchange; network trouble and 5xx become TransientError."""
        try:
            response = self.http.request(method, url, **request)
        except DestinationRefused as error:
            # A settings problem, not weather: retrying cannot help.
            raise PermanentError(f"{self.vendor}: {error}") from error
        except httpx.TransportError as error:
            raise TransientError(f"{self.vendor}: {type(error).__name__}: {error}") from error
        date = response.headers.get("date")
        if date:
            self.server_time = parsedate_to_datetime(date)
        if response.status_code >= 500:
            raise TransientError(f"{self.vendor}: HTTP {response.status_code}")
        return response


def json_body(vendor: str, response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as error:
        raise TransientError(f"{vendor}: HTTP {response.status_code}, body is not JSON") from error


def check_status(vendor: str, response: httpx.Response) -> None:
    """Generic HTTP classes, for vendors whose envelope did not say more."""
    if response.status_code in (401, 403):
        raise AuthFailed(f"{vendor}: HTTP {response.status_code}: {response.text[:200]}")
    if response.status_code == 429:
        raise RateLimited(retry_after_seconds(response, default=60))
    if response.status_code >= 400:
        raise PermanentError(f"{vendor}: HTTP {response.status_code}: {response.text[:200]}")


def retry_after_seconds(response: httpx.Response, *, default: float) -> float:
    value = response.headers.get("retry-after", "")
    return float(value) if value.replace(".", "", 1).isdigit() else default


# Walking a changed-since query ------------------------------------------------------------

#: ``fetch(edge, continuation) -> (changes, next continuation or None at the end)``
FetchPage = Callable[[datetime | None, Any], tuple[list[RawChange], Any]]


@dataclass(frozen=True)
class TimePage:
    changes: list[RawChange]
    covered: datetime | None  # every change up to this instant has been returned
    done: bool


def walk_time_windows(fetch: FetchPage, since: datetime | None, *,
                      rewindow: bool = True) -> Iterator[TimePage]:
    """Pages of a query sorted by modification time and filtered ``modified >= edge``.

    With ``rewindow`` (offset-style paging: HubSpot ``after``, Zoho pages, Kingdee
    ``StartRow``) each page starts a new query at the newest time seen, so a record edited
    mid-scan, which jumps to the end of the order, cannot shift an unread record into pages
    already read. The continuation is followed only through a run of records sharing one
    timestamp (bulk imports), and ids already returned at that edge are not returned again.
    This also keeps the walk under result-window caps (HubSpot 10,000, Zoho 2,000).
    Without ``rewindow`` (snapshot cursors: Salesforce ``nextRecordsUrl``) the cursor is
    followed to the end.
    """
    edge, continuation, covered = since, None, since
    seen_at_edge: set[str] = set()
    while True:
        changes, following = fetch(edge, continuation)
        fresh = [change for change in changes
                 if change.updated_at != edge or change.external_id not in seen_at_edge]
        newest = max((c.updated_at for c in changes if c.updated_at is not None), default=None)
        if newest is not None and (covered is None or newest > covered):
            covered = newest
        if following is None:
            yield TimePage(fresh, covered, done=True)
            return
        if rewindow and newest is not None and (edge is None or newest > edge):
            edge, continuation = newest, None
            seen_at_edge = {c.external_id for c in changes if c.updated_at == newest}
        else:
            continuation = following
            seen_at_edge |= {c.external_id for c in changes if c.updated_at == edge}
        yield TimePage(fresh, covered, done=False)


def walk_id_scan(fetch: FetchPage, since: Watermark | None, *, overlap_ms: int,
                 server_time: Callable[[], datetime | None]) -> Iterator[ChangePage]:
    """Pages of a query filtered ``modified >= since - overlap`` but ordered by id (or by
    nothing documented): Jiandaoyun, Fxiaoke, Xiaoshouyi, YonBIP.

    Times in such a scan are not ordered, so the watermark advances only when the scan ends;
    until then each page's watermark keeps the old value and carries the scan's position in
    ``extra["scan"]``, so a crashed run resumes where it stopped. The final value is the
    older of the newest record seen and the vendor's clock when the scan began: a record
    edited behind the scan's position after it began is newer than that and is read next time.
    """
    state = dict((since.extra.get("scan") if since else None) or {})
    if not state:
        start = parse_iso(since.value) if since and since.value else None
        state = {"since": format_iso_utc(minus_ms(start, overlap_ms)) if start else None,
                 "cursor": None, "newest": None, "started": None}
    previous = since.value if since else None
    while True:
        changes, following = fetch(_parsed(state["since"]), state["cursor"])
        if state["started"] is None and (now := server_time()) is not None:
            state["started"] = format_iso_utc(now)
        newest = max([c.updated_at for c in changes if c.updated_at is not None]
                     + ([parse_iso(state["newest"])] if state["newest"] else []), default=None)
        state["newest"] = format_iso_utc(newest) if newest else None
        if following is None:
            ends = [parse_iso(value) for value in (state["newest"], state["started"]) if value]
            final = format_iso_utc(min(ends)) if ends else previous
            yield ChangePage(changes, Watermark("timestamp", final), done=True)
            return
        state["cursor"] = following
        yield ChangePage(changes, Watermark("timestamp", previous, extra={"scan": dict(state)}),
                         done=False)


def _parsed(value: str | None) -> datetime | None:
    return parse_iso(value) if value else None


def since_instant(since: Watermark | None, overlap_ms: int) -> datetime | None:
    """Where an incremental read starts: the watermark minus the re-read overlap."""
    if since is None or since.value is None:
        return None
    return minus_ms(parse_iso(since.value), overlap_ms)


def with_missing_as_deletes(requested: Sequence[str],
                            found: Iterable[RawChange]) -> Iterator[RawChange]:
    """``found``, then a delete for every requested id the vendor did not return."""
    returned: set[str] = set()
    for change in found:
        returned.add(change.external_id)
        yield change
    for external_id in dict.fromkeys(requested):
        if external_id not in returned:
            yield RawChange(external_id, None, "delete", {})


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def clamp_page_size(requested: int | None, capabilities: Capabilities) -> int:
    return max(1, min(requested or capabilities.max_page_size, capabilities.max_page_size))


def pull_then_deletes(upserts: Iterator[TimePage],
                      deletes: Callable[[datetime | None], Iterator[TimePage]],
                      since: Watermark | None, overlap_ms: int) -> Iterator[ChangePage]:
    """For sources with a delete feed (``DeleteSignal.IN_PULL``): the changed records, then
    the deletions since the delete watermark, which travels in ``extra["deleted_since"]``.

    On the first load the whole delete feed is read: deleting an id we never stored is a
    no-op for the bridge, and it fixes where the delete watermark starts.
    """
    value = since.value if since else None
    deleted_since: str | None = since.extra.get("deleted_since") if since else None
    for page in upserts:
        value = format_iso_utc(page.covered) if page.covered else value
        yield ChangePage(page.changes, Watermark("timestamp", value,
                                                 extra={"deleted_since": deleted_since}), False)
    start = minus_ms(parse_iso(deleted_since), overlap_ms) if deleted_since else None
    for page in deletes(start):
        if page.covered is not None:
            deleted_since = format_iso_utc(page.covered)
        elif page.done and deleted_since is None:
            deleted_since = value
        yield ChangePage(page.changes, Watermark("timestamp", value,
                                                 extra={"deleted_since": deleted_since}), page.done)
