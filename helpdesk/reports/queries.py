"""Operational reports, aggregated in SQL: reply and resolution times, backlog ageing.

Percentiles use the nearest-rank method (the p-th percentile of n sorted values is the value
at rank ⌈p·n/100⌉), computed with window functions: SQLite has no ``percentile_cont``, and this
way both engines return the same, actually observed, durations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from helpdesk.db import db
from helpdesk.reports.sql import period_of, seconds_between
from helpdesk.teams.models import Team
from helpdesk.tickets.models import UNRESOLVED_STATUSES, Ticket

Metric = Literal["first_reply", "resolution"]
METRICS: tuple[Metric, ...] = ("first_reply", "resolution")
#: Backlog age buckets: label and upper bound (None: no bound).
AGE_BUCKETS: tuple[tuple[str, timedelta | None], ...] = (
    ("<1d", timedelta(days=1)), ("1–3d", timedelta(days=3)), ("3–7d", timedelta(days=7)),
    (">7d", None),
)


@dataclass(frozen=True, slots=True)
class PercentileRow:
    team: str
    period: str
    tickets: int
    p50: timedelta
    p90: timedelta


@dataclass(frozen=True, slots=True)
class BacklogRow:
    team: str
    #: Open tickets per bucket of :data:`AGE_BUCKETS`, in that order.
    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.counts)


def _nearest_rank(rank: ColumnElement[Any], count: ColumnElement[Any], seconds: ColumnElement[Any],
                  percent: int) -> ColumnElement[Any]:
    """The duration at rank ⌈percent·n/100⌉, in integer arithmetic (SQLite has no ceil)."""
    return func.max(case((and_(rank * 100 >= percent * count,
                               (rank - 1) * 100 < percent * count), seconds)))


def time_percentiles(metric: Metric, period: str, since: datetime) -> list[PercentileRow]:
    """p50 and p90 of first-reply or resolution time, by team and period of creation."""
    done = Ticket.first_replied_at if metric == "first_reply" else Ticket.solved_at
    seconds = seconds_between(Ticket.created_at, done)
    bucket = period_of(Ticket.created_at, period)
    partition = (Ticket.team_id, bucket)
    ranked = (
        select(Ticket.team_id.label("team_id"), bucket.label("period"),
               seconds.label("seconds"),
               func.row_number().over(partition_by=partition, order_by=seconds).label("rank"),
               func.count().over(partition_by=partition).label("n"))
        .where(done.is_not(None), Ticket.created_at >= since)
        .subquery())
    rows = db.session.execute(
        select(func.coalesce(Team.name, ""), ranked.c.period, func.max(ranked.c.n),
               _nearest_rank(ranked.c.rank, ranked.c.n, ranked.c.seconds, 50),
               _nearest_rank(ranked.c.rank, ranked.c.n, ranked.c.seconds, 90))
        .select_from(ranked).outerjoin(Team, Team.id == ranked.c.team_id)
        .group_by(Team.name, ranked.c.period)
        .order_by(ranked.c.period.desc(), Team.name))
    return [PercentileRow(team, period_label, count, timedelta(seconds=p50),
                          timedelta(seconds=p90))
            for team, period_label, count, p50, p90 in rows]


def backlog_ageing(now: datetime) -> list[BacklogRow]:
    """Open tickets per team, counted by age since creation (one pass on the status index)."""
    columns = []
    lower: timedelta | None = None
    for _, upper in AGE_BUCKETS:
        conditions = []
        if lower is not None:
            conditions.append(Ticket.created_at <= now - lower)
        if upper is not None:
            conditions.append(Ticket.created_at > now - upper)
        columns.append(func.sum(case((and_(*conditions), 1), else_=0)))
        lower = upper
    rows = db.session.execute(
        select(func.coalesce(Team.name, ""), *columns)
        .select_from(Ticket).outerjoin(Team, Team.id == Ticket.team_id)
        .where(Ticket.status.in_(UNRESOLVED_STATUSES))
        .group_by(Team.name).order_by(Team.name))
    return [BacklogRow(team, tuple(int(count or 0) for count in counts))
            for team, *counts in rows]
