"""Operational reports: percentiles and backlog ageing, equal on SQLite and PostgreSQL."""

import math
from datetime import UTC, datetime, timedelta

from helpdesk.db import db, utcnow
from helpdesk.reports.queries import backlog_ageing, time_percentiles
from helpdesk.tickets.models import Ticket
from tests.automation.conftest import make_team, make_ticket

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _nearest_rank(values, percent):
    ordered = sorted(values)
    return ordered[math.ceil(percent * len(ordered) / 100) - 1]


def _answered(team, created, minutes):
    ticket = make_ticket(team=team)
    ticket.created_at = created
    ticket.first_replied_at = created + timedelta(minutes=minutes)
    ticket.solved_at = created + timedelta(minutes=minutes * 10)
    return ticket


def test_percentiles_by_team_and_month_are_the_nearest_rank_values(any_db_app):
    billing, _ = make_team("Billing")
    support, _ = make_team("Support")
    billing_minutes = [5, 50, 10, 40, 20, 30, 70, 60, 90, 80, 100]
    for minutes in billing_minutes:
        _answered(billing, MONDAY, minutes)
    for minutes in (7, 3):
        _answered(support, MONDAY + timedelta(days=31), minutes)
    _answered(support, MONDAY - timedelta(days=400), 1)  # before the range
    make_ticket(team=support)  # not answered yet: no first-reply time
    db.session.commit()

    rows = time_percentiles("first_reply", "month", since=MONDAY - timedelta(days=1))
    assert [(r.team, r.period, r.tickets, r.p50, r.p90) for r in rows] == [
        ("Support", "2026-04", 2, timedelta(minutes=3), timedelta(minutes=7)),
        ("Billing", "2026-03", 11, timedelta(minutes=_nearest_rank(billing_minutes, 50)),
         timedelta(minutes=_nearest_rank(billing_minutes, 90))),
    ]
    resolution = time_percentiles("resolution", "month", since=MONDAY - timedelta(days=1))
    assert resolution[1].p90 == timedelta(minutes=10 * _nearest_rank(billing_minutes, 90))


def test_weeks_start_on_monday_on_both_engines(any_db_app):
    team, _ = make_team("Support")
    sunday_night = MONDAY + timedelta(days=6, hours=14)  # Sunday 23:00 UTC, same week
    _answered(team, MONDAY, 10)
    _answered(team, sunday_night, 20)
    _answered(team, MONDAY + timedelta(days=7), 30)
    db.session.commit()
    rows = time_percentiles("first_reply", "week", since=MONDAY - timedelta(days=1))
    assert [(r.period, r.tickets) for r in rows] == [("2026-03-09", 1), ("2026-03-02", 2)]


def test_backlog_counts_open_tickets_by_age_per_team(any_db_app):
    team, _ = make_team("Support")
    now = utcnow()
    for age in (timedelta(hours=2), timedelta(days=2), timedelta(days=2), timedelta(days=5),
                timedelta(days=30)):
        make_ticket(team=team).created_at = now - age
    solved = make_ticket(team=team)
    solved.status = "solved"
    make_ticket()  # no team
    db.session.commit()
    rows = {row.team: row.counts for row in backlog_ageing(now)}
    assert rows == {"Support": (1, 2, 1, 1), "": (1, 0, 0, 0)}
    assert db.session.query(Ticket).count() == 7
