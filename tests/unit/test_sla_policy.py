from datetime import UTC, datetime, timedelta

import pytest

from helpdesk.sla.calendar import ALWAYS_OPEN, add_business_time, business_time_between
from helpdesk.sla.policy import PolicyTargets, choose_policy, compute_deadlines, read_clock

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
POLICIES = [
    PolicyTargets("Urgent", "urgent", timedelta(hours=1), timedelta(hours=8)),
    PolicyTargets("Normal", "normal", timedelta(hours=8), timedelta(days=3)),
]


def test_policy_is_chosen_by_priority():
    assert choose_policy(POLICIES, "urgent").name == "Urgent"
    assert choose_policy(POLICIES, "normal").name == "Normal"


def test_priority_without_policy_has_no_targets():
    assert choose_policy(POLICIES, "low") is None


def test_deadlines_count_from_the_start_in_calendar_hours():
    deadlines = compute_deadlines(POLICIES[0], ALWAYS_OPEN, T0)
    assert deadlines.first_reply_due == T0 + timedelta(hours=1)
    assert deadlines.resolution_due == T0 + timedelta(hours=8)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="naive"):
        add_business_time(ALWAYS_OPEN, datetime(2026, 3, 1, 9), timedelta(hours=1))


def test_business_time_between_is_signed():
    assert business_time_between(ALWAYS_OPEN, T0, T0 + timedelta(hours=2)) == timedelta(hours=2)
    assert business_time_between(ALWAYS_OPEN, T0 + timedelta(hours=2), T0) == -timedelta(hours=2)


@pytest.mark.parametrize(
    ("done_offset", "now_offset", "state"),
    [
        (None, 30, "running"),
        (None, 90, "breached"),
        (45, 90, "met"),
        (75, 90, "breached"),
    ],
)
def test_clock_state(done_offset, now_offset, state):
    due = T0 + timedelta(minutes=60)
    done = None if done_offset is None else T0 + timedelta(minutes=done_offset)
    reading = read_clock(due, done, T0 + timedelta(minutes=now_offset))
    assert reading.state == state


def test_running_clock_reports_time_left_and_overdue_clock_negative_time():
    due = T0 + timedelta(minutes=60)
    assert read_clock(due, None, T0).remaining == timedelta(minutes=60)
    overdue = read_clock(due, None, T0 + timedelta(minutes=70))
    assert overdue.overdue and overdue.remaining == -timedelta(minutes=10)


def test_ticket_without_deadline_has_no_clock():
    assert read_clock(None, None, T0).state == "none"
