"""The contract between the sync loop and every CRM source.

Adapters know vendors; the bridge knows the canonical profile. An adapter returns raw vendor
records (envelope removed) in pages, each with the watermark to store once the page is applied,
so a sync job can commit profiles and watermark together and resume after a crash. A declarative
mapping (``crm_bridge.mapping``) turns raw records into profiles.

Pure: no Flask, no SQLAlchemy. Adapters take a base URL and an HTTP session so tests can point
them at local stub servers.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable


class DeleteSignal(enum.Enum):
    """How a source tells us a record is gone."""

    IN_PULL = "in_pull"  # pull() yields op="delete" changes (Salesforce queryAll, Zoho /deleted)
    WEBHOOK_ONLY = "webhook_only"  # only pushes reveal deletes; sweep list_ids() as a backstop
    NONE = "none"  # no signal: the bridge reconciles with list_ids() (mark and sweep)


@dataclass(frozen=True)
class Capabilities:
    server_side_since: bool  # can the API filter by modification time?
    delete_signal: DeleteSignal
    max_page_size: int
    timestamp_resolution_ms: int  # 1000 for second-precision sources
    overlap_ms: int  # how far behind the watermark to re-read (clock skew, equal timestamps)
    source_timezone: str | None = None  # IANA zone of naive timestamps, e.g. "Asia/Shanghai"
    has_webhooks: bool = False
    can_push: bool = False  # implements CrmSink
    push_idempotency: Literal["native_key", "unique_field", "none"] = "none"
    object_types: tuple[str, ...] = ("customer",)


@dataclass(frozen=True)
class Watermark:
    """Opaque to the bridge; stored as JSON per source and object type."""

    kind: Literal["timestamp", "cursor", "full_scan"]
    value: str | None = None  # ISO-8601 UTC for "timestamp"; a vendor token for "cursor"
    last_id: str | None = None  # keyset tiebreak for records sharing ``value``
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, "last_id": self.last_id,
                "extra": dict(self.extra)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Watermark:
        return cls(kind=data["kind"], value=data.get("value"), last_id=data.get("last_id"),
                   extra=dict(data.get("extra") or {}))


@dataclass(frozen=True)
class RawChange:
    external_id: str
    updated_at: datetime | None  # timezone-aware UTC; None only for full-scan sources
    op: Literal["upsert", "delete"]
    raw: Mapping[str, Any]  # the vendor record, envelope removed; {} for deletes
    object_type: str = "customer"


@dataclass(frozen=True)
class ChangePage:
    changes: Sequence[RawChange]
    next_watermark: Watermark  # store only in the transaction that applies ``changes``
    done: bool


@dataclass(frozen=True)
class ChangeHint:
    """A decoded webhook: "these ids changed". Never the data of record: we fetch them."""

    object_type: str
    external_ids: Sequence[str]
    op: Literal["upsert", "delete", "unknown"] = "unknown"
    delivery_id: str | None = None  # for dedup (X-JDY-DeliverId, HubSpot eventId, ...)


@dataclass(frozen=True)
class InteractionEvent:
    """A service event written back to the CRM as an activity or note."""

    idempotency_key: str  # e.g. "ticket:42:solved"; the same key never makes two records
    customer_external_id: str
    kind: Literal["ticket_created", "ticket_solved", "csat_submitted", "note"]
    occurred_at: datetime
    subject: str
    body: str = ""
    csat_score: int | None = None
    ticket_url: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PushResult:
    external_record_id: str
    created: bool  # False when an earlier push with the same key was found


class CrmError(Exception):
    """Base of every error an adapter raises; the sync loop decides retry or stop by type."""


class AuthFailed(CrmError):
    """Bad credentials or signature: stop and show the source as failing (no retry)."""


class TokenExpired(CrmError):
    """Raised by transports; adapters refresh once and retry internally."""


class RateLimited(CrmError):
    def __init__(self, retry_after_s: float, scope: Literal["burst", "daily"] = "burst"):
        super().__init__(f"rate limited ({scope}); retry after {retry_after_s:.1f}s")
        self.retry_after_s = retry_after_s
        self.scope = scope


class TransientError(CrmError):
    """5xx, timeouts, vendor "system busy" codes: retry with backoff."""


class PermanentError(CrmError):
    """A bad query, object or field: an admin must fix the configuration."""


@runtime_checkable
class CrmSource(Protocol):
    vendor: str
    capabilities: Capabilities

    def pull(self, since: Watermark | None, *, object_type: str = "customer",
             page_size: int | None = None) -> Iterator[ChangePage]:
        """Pages of changes after ``since`` (None: initial full load), oldest first."""
        ...

    def fetch(self, external_ids: Sequence[str], *,
              object_type: str = "customer") -> Iterator[RawChange]:
        """Read given ids (webhook hints, live lookups); missing ids come back as deletes."""
        ...

    def list_ids(self, *, object_type: str = "customer") -> Iterator[str]:
        """Every live external id, for mark-and-sweep when the source has no delete signal."""
        ...

    def describe(self, *, object_type: str = "customer") -> Sequence[Mapping[str, Any]]:
        """Field catalogue (``name``, ``label``, ``type``) so admins can build mappings."""
        ...


@runtime_checkable
class CrmSink(Protocol):
    def push_interaction(self, event: InteractionEvent) -> PushResult:
        ...


@runtime_checkable
class WebhookDecoder(Protocol):
    def verify_and_decode(self, *, headers: Mapping[str, str], query: Mapping[str, str],
                          body: bytes) -> Sequence[ChangeHint]:
        """Raise AuthFailed on a bad signature; return the hints otherwise."""
        ...
