"""Weekly hours: parsing, overnight shifts, timezones and daylight-saving changes."""

from datetime import UTC, datetime

import pytest

from helpdesk.auth.schedule import ScheduleError, parse_schedule


def test_a_weekday_schedule_is_open_inside_its_hours_in_its_own_timezone():
    schedule = parse_schedule("Asia/Shanghai; mon-fri 09:00-12:00 13:00-18:00")
    # 02:30 UTC on Monday 2026-03-02 is 10:30 in Shanghai.
    assert schedule.is_open(datetime(2026, 3, 2, 2, 30, tzinfo=UTC))
    # 12:30 Shanghai: the lunch break.
    assert not schedule.is_open(datetime(2026, 3, 2, 4, 30, tzinfo=UTC))
    # Saturday.
    assert not schedule.is_open(datetime(2026, 3, 7, 2, 30, tzinfo=UTC))


def test_an_overnight_shift_runs_into_the_next_morning():
    schedule = parse_schedule("fri 22:00-06:00")
    assert schedule.is_open(datetime(2026, 3, 6, 23, 0, tzinfo=UTC))  # Friday night
    assert schedule.is_open(datetime(2026, 3, 7, 5, 59, tzinfo=UTC))  # Saturday early
    assert not schedule.is_open(datetime(2026, 3, 7, 6, 0, tzinfo=UTC))
    assert not schedule.is_open(datetime(2026, 3, 5, 23, 0, tzinfo=UTC))  # Thursday night


def test_a_sunday_overnight_shift_wraps_to_monday():
    schedule = parse_schedule("sun 20:00-02:00")
    assert schedule.is_open(datetime(2026, 3, 9, 1, 0, tzinfo=UTC))  # Monday 01:00


def test_shift_hours_are_wall_clock_hours_across_a_dst_change():
    schedule = parse_schedule("Europe/Berlin; mon-fri 09:00-17:00")
    # Before the change (CET, UTC+1) 09:00 local is 08:00 UTC; after it (CEST) 07:00 UTC.
    assert schedule.is_open(datetime(2026, 3, 27, 8, 0, tzinfo=UTC))
    assert not schedule.is_open(datetime(2026, 3, 27, 7, 30, tzinfo=UTC))
    assert schedule.is_open(datetime(2026, 3, 30, 7, 0, tzinfo=UTC))
    assert not schedule.is_open(datetime(2026, 3, 30, 15, 30, tzinfo=UTC))


@pytest.mark.parametrize("text", [
    "", "Mars/Olympus; mon 09:00-17:00", "mon", "someday 09:00-10:00", "mon 9-17",
    "mon 25:00-26:00", "mon 09:00-09:00",
])
def test_unreadable_schedules_are_refused_with_a_reason(text):
    with pytest.raises(ScheduleError):
        parse_schedule(text)


def test_naive_instants_are_refused():
    with pytest.raises(ValueError, match="aware"):
        parse_schedule("mon 09:00-17:00").is_open(datetime(2026, 3, 2, 10, 0))
