"""Business time arithmetic (pure: no Flask, no SQLAlchemy).

A :class:`BusinessCalendar` says when a support team works: weekly hours (several ranges per
day; a range may run past midnight, an overnight shift, and then belongs to the day it starts
on), an IANA timezone, public holidays from the ``holidays`` package, custom closed dates and
extra working days (China's make-up workdays, 调休: a weekend day that is a working day).

How it stays fast (deadlines are computed for every ticket event and for whole backlogs after
a policy change): for each *local* year the calendar builds, once, the sorted list of its open
intervals in UTC microseconds and the running total of open time before each interval. Open
time before any instant is then one bisection, and adding business time is a subtraction plus
one bisection, however many weeks, weekends and holidays the duration spans.

Wall-clock hours are turned into UTC with ``zoneinfo``, so a shift on the day clocks go forward
really is an hour shorter, and business time is always real elapsed time inside open hours.
A wall time that does not exist (inside the spring gap) means the same instant one hour later;
an ambiguous one (the autumn repeat) means its first occurrence.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

#: Minutes from the local midnight of the day a range starts on: (start, end), end > start.
#: ``end`` may pass 1440 (an overnight shift) but by less than a day.
HoursRange = tuple[int, int]
WeeklyHours = tuple[tuple[HoursRange, ...], ...]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MINUTES_PER_DAY = 24 * 60
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
#: Years without a single open minute before we call a calendar never open.
_MAX_EMPTY_YEARS = 3


class CalendarError(ValueError):
    """A calendar definition that cannot work (bad timezone, hours or dates)."""


@dataclass(frozen=True)
class BusinessCalendar:
    """When a team works. ``weekly_hours=None`` means open around the clock (calendar hours)."""

    name: str
    timezone: str = "UTC"
    #: Seven entries, Monday first.
    weekly_hours: WeeklyHours | None = None
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    closed_dates: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()
    #: Per-year tables, built on first use (not part of the calendar's identity).
    _years: dict[int, _YearTable] = field(default_factory=dict, compare=False, hash=False,
                                          repr=False)

    def __post_init__(self) -> None:
        zone_named(self.timezone)  # fail at definition, not at the first deadline
        if self.weekly_hours is not None:
            if len(self.weekly_hours) != 7:
                raise CalendarError("weekly hours need seven days, Monday first")
            for day in self.weekly_hours:
                for start, end in day:
                    if not 0 <= start < _MINUTES_PER_DAY or not start < end <= start + \
                            _MINUTES_PER_DAY:
                        raise CalendarError(f"bad hours range {start}-{end}")

    @property
    def always_open(self) -> bool:
        return self.weekly_hours is None

    @property
    def zone(self) -> ZoneInfo:
        return zone_named(self.timezone)

    def hours_on(self, day: date) -> tuple[HoursRange, ...]:
        """The ranges the team works on ``day`` (local date), after holidays and 调休."""
        if self.weekly_hours is None:
            return ((0, _MINUTES_PER_DAY),)
        if day in self.closed_dates:
            return ()
        weekly = self.weekly_hours[day.weekday()]
        public = _public_days(self.holiday_country, self.holiday_subdivision, day.year)
        if day in self.extra_working_days or day in public.workdays:
            # A make-up workday is worked like a regular workday, whatever weekday it falls on.
            return weekly or self.standard_workday
        if day in public.holidays:
            return ()
        return weekly

    @property
    def standard_workday(self) -> tuple[HoursRange, ...]:
        """The hours of the first weekday that has any: what an extra working day is worked."""
        return next((day for day in self.weekly_hours or () if day), ())

    def is_holiday(self, day: date) -> bool:
        return day in _public_days(self.holiday_country, self.holiday_subdivision,
                                   day.year).holidays

    def open_intervals(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Open intervals overlapping [start, end), clipped to it (for timelines)."""
        lo, hi = _to_us(start), _to_us(end)
        result = []
        for year in range(self._local_year(start), self._local_year(end) + 1):
            table = self._table(year)
            for i in range(max(bisect_right(table.ends, lo), 0), len(table.starts)):
                if table.starts[i] >= hi:
                    break
                result.append((_from_us(max(lo, table.starts[i])),
                               _from_us(min(hi, table.ends[i]))))
        return result

    def _local_year(self, instant: datetime) -> int:
        return instant.astimezone(self.zone).year

    def _table(self, year: int) -> _YearTable:
        table = self._years.get(year)
        if table is None:
            table = self._years[year] = _build_year(self, year)
        return table


@dataclass(slots=True)
class _YearTable:
    """Open intervals of one local year (UTC microseconds) and cumulative open time."""

    starts: list[int]
    ends: list[int]
    #: Open time before interval i, and up to the end of interval i.
    open_before: list[int]
    open_through: list[int]

    @property
    def total(self) -> int:
        return self.open_through[-1] if self.open_through else 0

    def open_until(self, instant: int) -> int:
        i = bisect_right(self.starts, instant) - 1
        if i < 0:
            return 0
        return self.open_before[i] + min(instant, self.ends[i]) - self.starts[i]


@dataclass(frozen=True, slots=True)
class _PublicDays:
    holidays: frozenset[date]
    workdays: frozenset[date]


_NO_PUBLIC_DAYS = _PublicDays(frozenset(), frozenset())


@lru_cache(maxsize=256)
def _public_days(country: str | None, subdivision: str | None, year: int) -> _PublicDays:
    if not country:
        return _NO_PUBLIC_DAYS
    try:
        calendar = holidays.country_holidays(country, subdiv=subdivision or None, years=year)
    except NotImplementedError as error:
        raise CalendarError(f"no public holidays known for {country}/{subdivision}") from error
    # The package keeps make-up workdays (e.g. CN's 调休 Saturdays) in ``weekend_workdays``;
    # it may hold other years too.
    workdays = {day for day in getattr(calendar, "weekend_workdays", ()) if day.year == year}
    return _PublicDays(frozenset(calendar), frozenset(workdays))


@lru_cache(maxsize=64)
def zone_named(name: str) -> ZoneInfo:
    """The IANA timezone ``name``; :class:`CalendarError` when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise CalendarError(f"unknown timezone {name!r}") from error


def _to_us(instant: datetime) -> int:
    return (instant - _EPOCH) // _MICROSECOND


def _from_us(microseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=microseconds)


def _wall_to_us(day: date, minutes: int, zone: ZoneInfo) -> int:
    wall = datetime(day.year, day.month, day.day) + timedelta(minutes=minutes)
    return _to_us(wall.replace(tzinfo=zone))


def _build_year(calendar: BusinessCalendar, year: int) -> _YearTable:
    zone = calendar.zone
    lo = _wall_to_us(date(year, 1, 1), 0, zone)
    hi = _wall_to_us(date(year + 1, 1, 1), 0, zone)
    # Start on the last day of the previous year: its overnight shift runs into this one.
    day = date(year - 1, 12, 31)
    raw: list[tuple[int, int]] = []
    while day.year <= year:
        for start, end in calendar.hours_on(day):
            raw.append((_wall_to_us(day, start, zone), _wall_to_us(day, end, zone)))
        day += timedelta(days=1)
    raw.sort()
    starts: list[int] = []
    ends: list[int] = []
    for start, end in raw:
        start, end = max(start, lo), min(end, hi)
        if start >= end:
            continue
        if ends and start <= ends[-1]:  # touching or overlapping ranges are one interval
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    open_before, open_through, total = [], [], 0
    for start, end in zip(starts, ends, strict=True):
        open_before.append(total)
        total += end - start
        open_through.append(total)
    return _YearTable(starts, ends, open_before, open_through)


ALWAYS_OPEN = BusinessCalendar(name="24/7")


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"naive datetime {instant!r}: business time needs aware datetimes")


def add_business_time(calendar: BusinessCalendar, start: datetime,
                      duration: timedelta) -> datetime:
    """The first instant by which ``duration`` of open time has passed since ``start``."""
    _require_aware(start)
    if duration < timedelta(0):
        raise ValueError("duration must not be negative")
    if calendar.always_open or not duration:
        return start.astimezone(UTC) + duration
    year = calendar._local_year(start)
    table = calendar._table(year)
    needed = table.open_until(_to_us(start)) + duration // _MICROSECOND
    empty_years = 0
    while needed > table.total:
        empty_years = empty_years + 1 if not table.total else 0
        if empty_years > _MAX_EMPTY_YEARS:
            raise CalendarError(f"calendar {calendar.name!r} is never open")
        needed -= table.total
        year += 1
        table = calendar._table(year)
    i = bisect_left(table.open_through, needed)
    return _from_us(table.starts[i] + needed - table.open_before[i])


def business_time_between(calendar: BusinessCalendar, start: datetime,
                          end: datetime) -> timedelta:
    """Open time from ``start`` to ``end`` (negative when ``end`` is earlier)."""
    _require_aware(start)
    _require_aware(end)
    if calendar.always_open:
        return end - start
    if end < start:
        return -business_time_between(calendar, end, start)
    first, last = calendar._local_year(start), calendar._local_year(end)
    total = sum(calendar._table(year).total for year in range(first, last))
    total += calendar._table(last).open_until(_to_us(end))
    total -= calendar._table(first).open_until(_to_us(start))
    return timedelta(microseconds=total)


# --- The text form admins edit -----------------------------------------------------------

_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def parse_weekly_hours(text: str) -> WeeklyHours:
    """Parse lines such as ``mon-fri 09:00-12:00 13:00-18:00`` or ``sat 22:00-06:00``.

    An end at or before the start runs to the next day (an overnight shift). Days not named
    are closed; a day named twice gets both sets of ranges.
    """
    days: list[list[HoursRange]] = [[] for _ in DAY_NAMES]
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.split("#", 1)[0].strip().lower()
        if not line:
            continue
        day_spec, *ranges = line.replace(",", " ").split()
        if not ranges:
            raise CalendarError(f"line {number}: no hours after {day_spec!r}")
        for day in _day_indexes(day_spec, number):
            days[day].extend(_parse_range(item, number) for item in ranges)
    return tuple(tuple(sorted(day)) for day in days)


def _day_indexes(spec: str, number: int) -> Iterable[int]:
    first, _, last = spec.partition("-")
    try:
        start = DAY_NAMES.index(first[:3])
        end = DAY_NAMES.index(last[:3]) if last else start
    except ValueError as error:
        raise CalendarError(f"line {number}: unknown day {spec!r}") from error
    if end < start:
        raise CalendarError(f"line {number}: {spec!r} runs backwards")
    return range(start, end + 1)


def _parse_range(text: str, number: int) -> HoursRange:
    match = _RANGE.match(text)
    if match is None:
        raise CalendarError(f"line {number}: {text!r} is not like 09:00-17:30")
    h1, m1, h2, m2 = (int(group) for group in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise CalendarError(f"line {number}: {text!r} is not a time of day")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end <= start:
        end += _MINUTES_PER_DAY
    return start, end


def format_weekly_hours(weekly: WeeklyHours | None) -> str:
    """The text :func:`parse_weekly_hours` reads, one line per working day."""
    if weekly is None:
        return ""

    def clock(minutes: int) -> str:
        return f"{minutes // 60 % 24 if minutes != _MINUTES_PER_DAY else 24:02d}:{minutes % 60:02d}"

    return "\n".join(
        f"{DAY_NAMES[index]} " + " ".join(f"{clock(a)}-{clock(b)}" for a, b in day)
        for index, day in enumerate(weekly) if day)


def parse_dates(text: str) -> frozenset[date]:
    """One ISO date per line (``2026-02-14``); anything after the date is a comment."""
    result = set()
    for number, line in enumerate(text.splitlines(), start=1):
        word = line.split("#", 1)[0].strip().split(" ", 1)[0]
        if not word:
            continue
        try:
            result.add(date.fromisoformat(word))
        except ValueError as error:
            raise CalendarError(f"line {number}: {word!r} is not a date like 2026-02-14") \
                from error
    return frozenset(result)


def format_dates(days: Sequence[date] | frozenset[date]) -> str:
    return "\n".join(day.isoformat() for day in sorted(days))
