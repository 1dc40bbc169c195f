"""Vendor timestamps to and from timezone-aware UTC.

CRMs disagree on time: epoch milliseconds (HubSpot search, Fxiaoke, Xiaoshouyi), ISO 8601 in
UTC with ``Z`` or ``+0000`` (Salesforce, HubSpot, Jiandaoyun), ISO with the tenant's offset
(Zoho), and naive wall-clock strings in the server's zone (Kingdee, YonBIP). Adapters convert
at the edge so the bridge only ever sees aware UTC. Pure: standard library only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


def from_epoch_ms(value: int | str) -> datetime:
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def to_epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def parse_iso(value: str) -> datetime:
    """An ISO 8601 instant that carries its offset (``Z``, ``+0000``, ``+08:00``)."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no offset")
    return moment.astimezone(UTC)


def parse_naive_local(value: str, zone: str) -> datetime:
    """A wall-clock string without offset (``2025-05-06 15:08:09``) read in ``zone``."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        return moment.astimezone(UTC)
    return moment.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def format_naive_local(moment: datetime, zone: str) -> str:
    """``moment`` as the vendor's naive ``yyyy-MM-dd HH:mm:ss`` in ``zone`` (seconds floored)."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")


def format_iso_utc(moment: datetime, *, separator: str = "T") -> str:
    """Millisecond ISO 8601 in UTC with ``Z`` (watermarks, Jiandaoyun filters)."""
    return moment.astimezone(UTC).isoformat(separator, "milliseconds").replace("+00:00", "Z")


def floor_to(moment: datetime, resolution_ms: int) -> datetime:
    """Round down to the source's precision, so a filter never starts after a record."""
    epoch_ms = to_epoch_ms(moment)
    return from_epoch_ms(epoch_ms - epoch_ms % resolution_ms)


def minus_ms(moment: datetime, milliseconds: int) -> datetime:
    return moment - timedelta(milliseconds=milliseconds)
