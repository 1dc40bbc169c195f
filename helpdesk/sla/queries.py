"""SLA reads: policies and calendars as pure objects, a ticket's ledger, clocks and facts."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select

from helpdesk.customers.models import Customer
from helpdesk.db import cached, db
from helpdesk.sla.calendar import ALWAYS_OPEN, BusinessCalendar
from helpdesk.sla.models import SlaCalendar, SlaClock, SlaPolicy, SlaSegment, SlaTicket
from helpdesk.sla.policy import (
    ClockKind,
    Piece,
    Policy,
    Segment,
    TicketFacts,
    choose_policy,
    clock_timeline,
    evaluate_clock,
    parse_conditions,
    parse_escalations,
    parse_pauses,
    parse_targets,
)
from helpdesk.teams.models import Team
from helpdesk.tickets.models import Ticket

#: Built calendars keep their per-year tables, so they are shared while their row is unchanged.
_calendars: dict[tuple[int, datetime], BusinessCalendar] = {}


def calendar_of(row: SlaCalendar) -> BusinessCalendar:
    key = (row.id, row.updated_at)
    calendar = _calendars.get(key)
    if calendar is None:
        calendar = _calendars[key] = BusinessCalendar(
            name=row.name, timezone=row.timezone,
            weekly_hours=tuple(tuple((start, end) for start, end in day)
                               for day in row.weekly_hours),
            holiday_country=row.holiday_country, holiday_subdivision=row.holiday_subdivision,
            closed_dates=frozenset(date.fromisoformat(day) for day in row.closed_dates),
            extra_working_days=frozenset(date.fromisoformat(day)
                                         for day in row.extra_working_days))
    return calendar


def policy_of(row: SlaPolicy) -> Policy:
    """The pure policy of a row (rows are validated when saved)."""
    return Policy(
        id=row.id, name=row.name, conditions=parse_conditions(row.conditions),
        targets=parse_targets(row.targets),
        calendar=calendar_of(row.calendar) if row.calendar else ALWAYS_OPEN,
        pauses=parse_pauses(row.pauses), warn_share=row.warn_share,
        escalation_levels=parse_escalations(row.escalations))


def policy_rows() -> list[SlaPolicy]:
    return list(db.session.scalars(select(SlaPolicy).order_by(SlaPolicy.position, SlaPolicy.id)))


def active_policies() -> list[Policy]:
    """Active policies in the order they are tried (read once per batch, see
    :func:`helpdesk.db.batch_cache`)."""
    return cached("sla.active_policies",
                  lambda: [policy_of(row) for row in policy_rows() if row.active])


def policy_by_id(policy_id: int) -> Policy | None:
    """The pure policy of row ``policy_id`` (active or not; read once per batch)."""
    def load() -> Policy | None:
        row = db.session.get(SlaPolicy, policy_id)
        return policy_of(row) if row else None
    return cached(f"sla.policy:{policy_id}", load)


def open_calendars(now: datetime) -> tuple[str, ...]:
    """The names of the business calendars (holidays and make-up workdays included) open at
    ``now``; the calendars are read once per batch."""
    calendars = cached("sla.calendars", lambda: [calendar_of(row) for row in all_calendars()])
    return tuple(calendar.name for calendar in calendars
                 if calendar.open_intervals(now, now + timedelta(minutes=1)))


def all_calendars() -> list[SlaCalendar]:
    return list(db.session.scalars(select(SlaCalendar).order_by(SlaCalendar.name)))


def ticket_facts(ticket: Ticket) -> TicketFacts:
    customer = ticket.customer
    return TicketFacts(
        priority=ticket.priority, channel=ticket.channel,
        team=ticket.team.name if ticket.team else None, organization=customer.company,
        customer_tier=customer.tier, customer_tags=frozenset(customer.tags or ()),
        ticket_tags=frozenset(ticket.tags or ()), custom_fields=dict(ticket.custom_fields or {}))


def ledger(ticket_id: int) -> list[Segment]:
    rows = db.session.scalars(select(SlaSegment).where(SlaSegment.ticket_id == ticket_id)
                              .order_by(SlaSegment.started_at, SlaSegment.id))
    return [Segment(row.category, row.started_at, row.ended_at) for row in rows]


def ticket_clocks(ticket_id: int) -> list[SlaClock]:
    return list(db.session.scalars(select(SlaClock).where(SlaClock.ticket_id == ticket_id)
                                   .order_by(SlaClock.id)))


def ticket_sla(ticket_id: int) -> SlaTicket | None:
    return db.session.get(SlaTicket, ticket_id)


def reply_by(ticket_id: int) -> tuple[datetime, str] | None:
    """When the team owes the customer its first reply, and the calendar's timezone.

    Read from the ticket's mirrored deadline: its first-reply clock runs until the first
    agent reply, which stamps ``first_replied_at`` (a ticket just opened is in the session
    already, so an acknowledgement costs no read)."""
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None or ticket.first_replied_at is not None or ticket.first_reply_due is None:
        return None
    state = db.session.get(SlaTicket, ticket_id)
    policy = policy_by_id(state.policy_id) if state and state.policy_id else None
    return ticket.first_reply_due, policy.calendar.timezone if policy else "UTC"


@dataclass(frozen=True, slots=True)
class TicketBatch:
    """Tickets with what measuring their clocks needs, loaded in three queries."""

    facts: dict[int, TicketFacts]
    segments: dict[int, list[Segment]]
    clocks: dict[int, list[Any]]
    #: The stored choice (policy_id, explanation, chosen_at; None values when never chosen).
    choices: dict[int, Any]


def ticket_batches(condition: ColumnElement[bool], *, open_clocks_only: bool,
                   size: int = 2000) -> Iterator[TicketBatch]:
    """Tickets matching ``condition`` in id order, ``size`` at a time (keyset pagination)."""
    last_id = 0
    while True:
        rows = db.session.execute(
            select(Ticket.id, Ticket.priority, Ticket.channel, Ticket.tags,
                   Ticket.custom_fields, Team.name.label("team"), Customer.company,
                   Customer.tier, Customer.tags.label("customer_tags"), SlaTicket.policy_id,
                   SlaTicket.explanation, SlaTicket.chosen_at)
            .join(Customer, Customer.id == Ticket.customer_id)
            .outerjoin(Team, Team.id == Ticket.team_id)
            .outerjoin(SlaTicket, SlaTicket.ticket_id == Ticket.id)
            .where(Ticket.id > last_id, condition).order_by(Ticket.id).limit(size)).all()
        if not rows:
            return
        ids = [row.id for row in rows]
        facts = {row.id: TicketFacts(
            priority=row.priority, channel=row.channel, team=row.team,
            organization=row.company, customer_tier=row.tier,
            customer_tags=frozenset(row.customer_tags or ()),
            ticket_tags=frozenset(row.tags or ()), custom_fields=row.custom_fields or {})
            for row in rows}
        segments: dict[int, list[Segment]] = defaultdict(list)
        for segment in db.session.execute(
                select(SlaSegment.ticket_id, SlaSegment.category, SlaSegment.started_at,
                       SlaSegment.ended_at).where(SlaSegment.ticket_id.in_(ids))
                .order_by(SlaSegment.ticket_id, SlaSegment.started_at, SlaSegment.id)):
            segments[segment.ticket_id].append(
                Segment(segment.category, segment.started_at, segment.ended_at))
        # Plain rows, not ORM objects: a backlog's worth of clocks is measured per batch.
        clock_query = select(SlaClock.id, SlaClock.ticket_id, SlaClock.kind, SlaClock.status,
                             SlaClock.started_at, SlaClock.stopped_at,
                             SlaClock.escalation_step).where(
            SlaClock.ticket_id.in_(ids)).order_by(SlaClock.id)
        if open_clocks_only:
            clock_query = clock_query.where(SlaClock.stopped_at.is_(None))
        clocks: dict[int, list[Any]] = defaultdict(list)
        for clock in db.session.execute(clock_query):
            clocks[clock.ticket_id].append(clock)
        yield TicketBatch(facts, segments, clocks, {row.id: row for row in rows})
        last_id = ids[-1]


@dataclass(frozen=True, slots=True)
class DryRun:
    tickets: int
    #: Tickets the draft would move onto or off the edited policy.
    moved: int
    current: Counter[str]
    draft: Counter[str]


def dry_run(draft: Policy, days: int, now: datetime) -> DryRun:
    """Replay the tickets of the last ``days`` days under the policies with ``draft`` in
    place of the saved row (or added, if new): how many targets would be met or breached."""
    current = active_policies()
    replaced = [draft if policy.id == draft.id else policy for policy in current]
    if draft.id is None or all(policy.id != draft.id for policy in current):
        replaced.append(draft)
    tally = {"current": Counter[str](), "draft": Counter[str]()}
    tickets = moved = 0
    since = now - timedelta(days=days)
    for batch in ticket_batches(Ticket.created_at >= since, open_clocks_only=False):
        for ticket_id, facts in batch.facts.items():
            tickets += 1
            chosen = {"current": choose_policy(current, facts).policy,
                      "draft": choose_policy(replaced, facts).policy}
            moved += (chosen["current"] is not None and chosen["current"].id == draft.id) != (
                chosen["draft"] is draft)
            for name, policy in chosen.items():
                for clock in batch.clocks[ticket_id]:
                    tally[name][_verdict(policy, facts.priority, clock,
                                         batch.segments[ticket_id], now)] += 1
    for counter in tally.values():
        counter.pop("none", None)
    return DryRun(tickets, moved, tally["current"], tally["draft"])


def _verdict(policy: Policy | None, priority: str, clock: Any, segments: list[Segment],
             now: datetime) -> str:
    kind: ClockKind = clock.kind
    target = policy.target(priority, kind) if policy else None
    if policy is None or target is None:
        return "none"
    evaluation = evaluate_clock(policy, kind, target, clock.started_at, clock.stopped_at,
                                segments, now)
    if evaluation.status in ("met", "breached"):
        return evaluation.status
    return "breached" if evaluation.elapsed > target.duration else "open"


@dataclass(frozen=True, slots=True)
class ComplianceRow:
    label: str
    met: int
    breached: int

    @property
    def percent(self) -> float | None:
        total = self.met + self.breached
        return round(100 * self.met / total, 1) if total else None


DIMENSIONS = ("team", "priority", "policy", "month", "clock")


def compliance(dimension: str, since: datetime, now: datetime) -> list[ComplianceRow]:
    """Targets met and breached by ``dimension`` for clocks started since ``since``, counted in
    SQL. A running clock past its due instant counts as breached."""
    if db.session.get_bind().dialect.name == "postgresql":
        month = func.to_char(SlaClock.started_at, "YYYY-MM")
    else:
        month = func.strftime("%Y-%m", SlaClock.started_at)
    label = {"team": func.coalesce(Team.name, "—"), "priority": Ticket.priority,
             "policy": func.coalesce(SlaPolicy.name, "—"), "month": month,
             "clock": SlaClock.kind}[dimension]
    breached = or_(SlaClock.status == "breached",
                   and_(SlaClock.stopped_at.is_(None), SlaClock.due_at < now))
    rows = db.session.execute(
        select(label.label("label"),
               func.sum(case((SlaClock.status == "met", 1), else_=0)),
               func.sum(case((breached, 1), else_=0)))
        .select_from(SlaClock)
        .join(Ticket, Ticket.id == SlaClock.ticket_id)
        .outerjoin(Team, Team.id == Ticket.team_id)
        .outerjoin(SlaTicket, SlaTicket.ticket_id == SlaClock.ticket_id)
        .outerjoin(SlaPolicy, SlaPolicy.id == SlaTicket.policy_id)
        .where(SlaClock.target_minutes.is_not(None), SlaClock.started_at >= since)
        .group_by(label).order_by(label))
    return [ComplianceRow(str(name), int(met or 0), int(late or 0)) for name, met, late in rows]


@dataclass(frozen=True, slots=True)
class ClockView:
    clock: SlaClock
    #: Time left (negative: overdue) for a running clock; None otherwise.
    remaining: timedelta | None
    timeline: list[Piece]


@dataclass(frozen=True, slots=True)
class TicketPanel:
    policy_name: str | None
    calendar_name: str | None
    explanation: list[Any]
    clocks: list[ClockView]


def ticket_panel(ticket: Ticket, now: datetime) -> TicketPanel:
    """What the ticket page shows about the SLA: each clock with its timeline, and why this
    policy applies (or why none does)."""
    state = db.session.get(SlaTicket, ticket.id)
    row = db.session.get(SlaPolicy, state.policy_id) if state and state.policy_id else None
    policy = policy_of(row) if row else None
    segments = ledger(ticket.id)
    views = []
    for clock in ticket_clocks(ticket.id):
        kind: ClockKind = clock.kind  # type: ignore[assignment]
        target = policy.target(ticket.priority, kind) if policy else None
        timeline = [] if policy is None or target is None else clock_timeline(
            policy, kind, target, clock.started_at, clock.stopped_at, segments, now)
        remaining = clock.due_at - now if clock.status == "running" and clock.due_at else None
        views.append(ClockView(clock, remaining, timeline))
    return TicketPanel(row.name if row else None,
                       row.calendar.name if row and row.calendar else None,
                       state.explanation if state else [], views)
