"""Business time arithmetic (pure: no Flask, no SQLAlchemy).

All instants are timezone-aware; the arithmetic is done in UTC. The calendar here is open
around the clock ("calendar hours"); weekly hours, holidays and make-up workdays plug in behind
the same two functions without changing their callers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    name: str
    timezone: str = "UTC"


ALWAYS_OPEN = BusinessCalendar(name="24/7")


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"naive datetime {instant!r}: business time needs aware datetimes")


def add_business_time(calendar: BusinessCalendar, start: datetime,
                      duration: timedelta) -> datetime:
    """The instant ``duration`` of open time after ``start``."""
    _require_aware(start)
    if duration < timedelta(0):
        raise ValueError("duration must not be negative")
    return start + duration


def business_time_between(calendar: BusinessCalendar, start: datetime,
                          end: datetime) -> timedelta:
    """Open time from ``start`` to ``end`` (negative when ``end`` is earlier)."""
    _require_aware(start)
    _require_aware(end)
    return end - start
