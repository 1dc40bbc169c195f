"""Weekly hours in a timezone (pure: no Flask, no SQLAlchemy).

Agents' shifts and the "business hours" condition of routing rules are written the way people
say them, one line an admin can read back::

    Asia/Shanghai; mon-fri 09:00-12:00 13:00-18:00; sat 10:00-14:00

The timezone comes first (default UTC), then day ranges with one or more time ranges each. A
range whose end is earlier than its start runs overnight into the next day ("22:00-06:00").
Times are wall-clock times in that zone, so a 09:00 shift starts at 09:00 on both sides of a
daylight-saving change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MINUTES_PER_DAY = 24 * 60
_TIME_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


class ScheduleError(ValueError):
    """The schedule text cannot be read; the message says where."""


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    timezone: str
    #: (weekday 0=Monday, start minute, end minute); an overnight end is above 1440.
    ranges: tuple[tuple[int, int, int], ...]
    text: str

    def is_open(self, instant: datetime) -> bool:
        """Whether ``instant`` (aware) falls inside the weekly hours, in the schedule's zone."""
        if instant.tzinfo is None:
            raise ValueError("is_open needs an aware datetime")
        local = instant.astimezone(ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        weekday = local.weekday()
        for day, start, end in self.ranges:
            if day == weekday and start <= minute < end:
                return True
            if end > _MINUTES_PER_DAY and (day + 1) % 7 == weekday \
                    and minute < end - _MINUTES_PER_DAY:
                return True
        return False


def parse_schedule(text: str) -> WeeklySchedule:
    """Read a schedule; raise :class:`ScheduleError` naming the part that is wrong."""
    parts = [part.strip() for part in re.split(r"[;\n]", text) if part.strip()]
    timezone = "UTC"
    if parts and parts[0].split()[0].lower()[:3] not in DAYS:
        timezone = parts.pop(0)
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ScheduleError(f"unknown timezone {timezone!r}") from error
    if not parts:
        raise ScheduleError("no days given (for example: mon-fri 09:00-18:00)")
    ranges: list[tuple[int, int, int]] = []
    for part in parts:
        days, *times = part.split()
        if not times:
            raise ScheduleError(f"{part!r}: no hours after the days")
        for day in _days(days):
            ranges.extend((day, start, end) for start, end in map(_time_range, times))
    return WeeklySchedule(timezone=timezone, ranges=tuple(ranges), text=text.strip())


def _days(spec: str) -> list[int]:
    result: list[int] = []
    for item in spec.lower().split(","):
        first, _, last = item.partition("-")
        try:
            start = DAYS.index(first[:3])
            end = DAYS.index(last[:3]) if last else start
        except ValueError as error:
            raise ScheduleError(f"{spec!r}: days are mon, tue, … sun") from error
        result.extend((start + offset) % 7 for offset in range((end - start) % 7 + 1))
    return result


def _time_range(spec: str) -> tuple[int, int]:
    match = _TIME_RANGE.match(spec)
    if match is None:
        raise ScheduleError(f"{spec!r}: hours look like 09:00-18:00")
    start_h, start_m, end_h, end_m = map(int, match.groups())
    if start_h > 23 or end_h > 24 or start_m > 59 or end_m > 59 or (end_h == 24 and end_m):
        raise ScheduleError(f"{spec!r}: not a time of day")
    start, end = start_h * 60 + start_m, end_h * 60 + end_m
    if end == start:
        raise ScheduleError(f"{spec!r}: empty range")
    # An end before the start means the shift runs past midnight.
    return start, end if end > start else end + _MINUTES_PER_DAY
