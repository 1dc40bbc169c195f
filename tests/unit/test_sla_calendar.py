"""Business calendars: table-driven cases over holidays, 调休, DST, overnight shifts."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from helpdesk.sla.calendar import (
    ALWAYS_OPEN,
    BusinessCalendar,
    CalendarError,
    add_business_time,
    business_time_between,
    format_weekly_hours,
    parse_dates,
    parse_weekly_hours,
)

SHANGHAI = BusinessCalendar("Shanghai", "Asia/Shanghai",
                            parse_weekly_hours("mon-fri 09:00-12:00 13:00-18:00"), "CN")
NEW_YORK = BusinessCalendar("New York", "America/New_York",
                            parse_weekly_hours("mon-fri 09:00-17:00"), "US")
BERLIN_NIGHTS = BusinessCalendar("Berlin nights", "Europe/Berlin",
                                 parse_weekly_hours("mon-sun 22:00-06:00"))
NEW_YORK_ALL_DAY = BusinessCalendar("NY 24h", "America/New_York",
                                    parse_weekly_hours("mon-sun 00:00-24:00"))
LONDON_CUSTOM = BusinessCalendar(
    "London", "Europe/London", parse_weekly_hours("mon-fri 09:00-17:00"), "GB",
    closed_dates=parse_dates("2026-06-12  # office move"),
    extra_working_days=parse_dates("2026-06-13"))


def local(calendar, *parts):
    """A local wall time in UTC; a sixth part is ``fold`` (1: the repeated autumn hour)."""
    *wall, fold = parts if len(parts) == 6 else (*parts, 0)
    return datetime(*wall, fold=fold, tzinfo=ZoneInfo(calendar.timezone)).astimezone(UTC)


ADD_CASES = [
    # calendar, start (local), duration, expected (local), why
    (SHANGHAI, (2026, 3, 2, 11, 0), timedelta(hours=2), (2026, 3, 2, 14, 0),
     "the lunch break does not count"),
    (SHANGHAI, (2026, 3, 7, 10, 0), timedelta(hours=1), (2026, 3, 9, 10, 0),
     "a Saturday start waits for Monday"),
    (SHANGHAI, (2026, 3, 2, 7, 0), timedelta(minutes=30), (2026, 3, 2, 9, 30),
     "an early start waits for opening"),
    (SHANGHAI, (2026, 2, 13, 17, 0), timedelta(hours=2), (2026, 2, 14, 10, 0),
     "Saturday 14 February 2026 is a Spring Festival make-up workday (调休)"),
    (SHANGHAI, (2026, 2, 14, 17, 0), timedelta(hours=2), (2026, 2, 24, 10, 0),
     "the Spring Festival holiday runs 15-23 February"),
    (SHANGHAI, (2026, 9, 30, 17, 0), timedelta(hours=2), (2026, 10, 8, 10, 0),
     "National Day week (1-7 October) is closed"),
    (SHANGHAI, (2026, 10, 9, 17, 0), timedelta(hours=2), (2026, 10, 10, 10, 0),
     "Saturday 10 October 2026 is a National Day make-up workday"),
    (NEW_YORK, (2026, 7, 2, 16, 0), timedelta(hours=2), (2026, 7, 6, 10, 0),
     "Independence Day is observed on Friday 3 July 2026"),
    (NEW_YORK, (2026, 3, 6, 16, 0), timedelta(hours=2), (2026, 3, 9, 10, 0),
     "a weekend with the spring DST change in it"),
    (NEW_YORK_ALL_DAY, (2026, 3, 8, 0, 0), timedelta(hours=3), (2026, 3, 8, 4, 0),
     "02:00-03:00 does not exist on 8 March 2026 in New York"),
    (NEW_YORK_ALL_DAY, (2026, 11, 1, 0, 0), timedelta(hours=2), (2026, 11, 1, 1, 0, 1),
     "01:00-02:00 happens twice on 1 November 2026: two hours after midnight is the second 01:00"),
    (BERLIN_NIGHTS, (2026, 3, 28, 23, 0), timedelta(hours=6), (2026, 3, 29, 6, 0),
     "the night of the spring change is one hour shorter: 23:00-06:00 is six real hours"),
    (BERLIN_NIGHTS, (2026, 3, 27, 5, 0), timedelta(hours=2), (2026, 3, 27, 23, 0),
     "an overnight shift ends at 06:00 and the next starts at 22:00"),
    (NEW_YORK, (2026, 3, 2, 9, 0), timedelta(hours=40), (2026, 3, 6, 17, 0),
     "a full working week ends at Friday's closing, not Monday's opening"),
    (NEW_YORK, (2026, 3, 2, 9, 0), timedelta(hours=8 * 5 * 3 + 1), (2026, 3, 23, 10, 0),
     "three whole weeks are skipped at once"),
    (NEW_YORK, (2026, 12, 31, 16, 0), timedelta(hours=2), (2027, 1, 4, 10, 0),
     "across the new year: 1 January is a holiday"),
    (LONDON_CUSTOM, (2026, 6, 11, 16, 0), timedelta(hours=2), (2026, 6, 13, 10, 0),
     "a custom closed Friday and a custom extra working Saturday"),
]


@pytest.mark.parametrize(("calendar", "start", "duration", "expected", "why"), ADD_CASES,
                         ids=[case[-1] for case in ADD_CASES])
def test_add_business_time(calendar, start, duration, expected, why):
    due = add_business_time(calendar, local(calendar, *start), duration)
    assert due == local(calendar, *expected), why
    assert due.tzinfo is not None


@pytest.mark.parametrize(("calendar", "start", "duration", "expected", "why"), ADD_CASES,
                         ids=[case[-1] for case in ADD_CASES])
def test_business_time_between_undoes_add(calendar, start, duration, expected, why):
    start_at = local(calendar, *start)
    assert business_time_between(calendar, start_at, local(calendar, *expected)) == duration


@pytest.mark.parametrize(("day", "hours"), [((2026, 3, 8), 23), ((2026, 11, 1), 25),
                                            ((2026, 3, 9), 24)])
def test_a_whole_local_day_lasts_its_real_length_across_dst(day, hours):
    start = local(NEW_YORK_ALL_DAY, *day)
    end = local(NEW_YORK_ALL_DAY, *(date(*day) + timedelta(days=1)).timetuple()[:3])
    assert business_time_between(NEW_YORK_ALL_DAY, start, end) == timedelta(hours=hours)


def test_time_between_is_negative_backwards_and_zero_when_closed():
    a, b = local(SHANGHAI, 2026, 3, 2, 10), local(SHANGHAI, 2026, 3, 2, 11)
    assert business_time_between(SHANGHAI, b, a) == -timedelta(hours=1)
    saturday = local(SHANGHAI, 2026, 3, 7, 9)
    assert business_time_between(SHANGHAI, saturday, saturday + timedelta(hours=8)) == \
        timedelta(0)


def test_cn_holidays_and_make_up_workdays_come_from_the_holidays_package():
    assert SHANGHAI.is_holiday(date(2026, 2, 17))
    assert SHANGHAI.hours_on(date(2026, 2, 17)) == ()
    assert SHANGHAI.hours_on(date(2026, 2, 28)) == SHANGHAI.standard_workday  # a Saturday


def test_every_start_round_trips_over_a_year():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for step in range(0, 365 * 24, 7):
        instant = start + timedelta(hours=step, minutes=step % 60)
        due = add_business_time(SHANGHAI, instant, timedelta(hours=13, minutes=7))
        assert business_time_between(SHANGHAI, instant, due) == timedelta(hours=13, minutes=7)


def test_calendar_hours_are_plain_addition_and_zero_is_the_start():
    start = datetime(2026, 3, 1, 9, tzinfo=UTC)
    assert add_business_time(ALWAYS_OPEN, start, timedelta(hours=5)) == start + timedelta(hours=5)
    saturday = local(SHANGHAI, 2026, 3, 7, 9)
    assert add_business_time(SHANGHAI, saturday, timedelta(0)) == saturday


def test_naive_datetimes_and_negative_durations_are_refused():
    with pytest.raises(ValueError, match="naive"):
        add_business_time(SHANGHAI, datetime(2026, 3, 1), timedelta(hours=1))
    with pytest.raises(ValueError, match="negative"):
        add_business_time(SHANGHAI, local(SHANGHAI, 2026, 3, 1), timedelta(hours=-1))


def test_a_calendar_that_is_never_open_is_an_error_not_a_hang():
    closed = BusinessCalendar("closed", "UTC", ((),) * 7)
    with pytest.raises(CalendarError, match="never open"):
        add_business_time(closed, datetime(2026, 3, 1, tzinfo=UTC), timedelta(hours=1))


@pytest.mark.parametrize(("text", "error"), [
    ("mon 9-17", "not like"), ("someday 09:00-17:00", "unknown day"),
    ("fri-mon 09:00-17:00", "backwards"), ("mon 25:00-26:00", "not a time"),
    ("mon", "no hours")])
def test_weekly_hours_text_errors_name_the_line(text, error):
    with pytest.raises(CalendarError, match=error):
        parse_weekly_hours(text)


def test_weekly_hours_text_round_trips_with_overnight_and_lunch():
    text = "mon 09:00-12:00 13:00-18:00\nfri 22:00-06:00\nsun 00:00-24:00"
    assert parse_weekly_hours(format_weekly_hours(parse_weekly_hours(text))) == \
        parse_weekly_hours(text)


def test_unknown_timezone_is_refused_at_definition():
    with pytest.raises(CalendarError, match="timezone"):
        BusinessCalendar("x", "Mars/Olympus")
