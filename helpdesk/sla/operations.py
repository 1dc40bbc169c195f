"""SLA writes, called by ticket operations in the same transaction (flush, never commit).

The ticket's ledger gets a segment whenever its status category changes; clocks start and stop
on ticket events; every change re-measures the ticket's open clocks from the ledger. An
escalation step due within :data:`EXACT_JOB_HORIZON_SECONDS` gets an exact job at once; the
periodic sweep queues exact jobs for the later ones shortly before they fall due, and does any
step still due itself (the safety net).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from helpdesk.db import db, utcnow
from helpdesk.jobs import enqueue
from helpdesk.sla import SWEEP_SECONDS
from helpdesk.sla.models import SlaCalendar, SlaClock, SlaPolicy, SlaSegment, SlaTeamLead, SlaTicket
from helpdesk.sla.policy import (
    STATUS_CATEGORIES,
    ClockKind,
    Policy,
    Segment,
    choose_policy,
    escalation_steps,
    evaluate_clock,
)
from helpdesk.sla.queries import (
    active_policies,
    ledger,
    policy_by_id,
    ticket_clocks,
    ticket_facts,
)
from helpdesk.tickets.models import Ticket

#: The clocks whose deadline the ticket row mirrors (queue lists sort and show them).
_MIRRORED = {"first_reply": "first_reply_due", "resolution": "resolution_due"}

#: A measurement queues an exact escalation job only for a step this close; later steps are
#: queued by the periodic sweep in the run before they fall due (see
#: :func:`helpdesk.sla.tasks.queue_upcoming_escalations`). Queuing a delayed job on every
#: measurement would pile up one per clock and change in the queue: millions with a million
#: open tickets. Twice the sweep's interval, so one late sweep run loses no exactness.
EXACT_JOB_HORIZON_SECONDS = 2 * SWEEP_SECONDS


def start_ticket_sla(ticket: Ticket) -> str | None:
    """Open the ticket's ledger, choose its policy, start first-reply and resolution clocks.

    For a ticket not written yet: its ledger and clocks are known without reading them, so
    they are measured in memory and the deadlines set on the ticket before its row goes in;
    the next flush writes the ticket and its SLA rows together. Returns the chosen policy's
    name (None when no policy matches: clocks run untargeted).
    """
    category = STATUS_CATEGORIES[ticket.status]
    db.session.add(SlaSegment(ticket=ticket, category=category, started_at=ticket.created_at))
    clocks = [SlaClock(ticket=ticket, kind=kind, status="running", started_at=ticket.created_at,
                       escalation_step=0) for kind in ("first_reply", "resolution")]
    db.session.add_all(clocks)
    return _choose(ticket, active_policies(), utcnow(), state=None,
                   segments=[Segment(category, ticket.created_at, None)], clocks=clocks)


def apply_sla(ticket: Ticket, policies: Sequence[Policy] | None = None,
                now: datetime | None = None) -> str | None:
    """Choose the ticket's policy again (priority, team, tags may have changed) and re-measure
    its open clocks from the ledger: elapsed time is kept, deadlines move. Idempotent."""
    return _choose(ticket, active_policies() if policies is None else policies,
                   now or utcnow(), state=db.session.get(SlaTicket, ticket.id))


def _choose(ticket: Ticket, policies: Sequence[Policy], now: datetime, state: SlaTicket | None,
            segments: Sequence[Segment] | None = None,
            clocks: Sequence[SlaClock] | None = None) -> str | None:
    choice = choose_policy(policies, ticket_facts(ticket))
    if state is None:
        state = SlaTicket(ticket=ticket)
        db.session.add(state)
    state.policy_id = choice.policy.id if choice.policy else None
    state.explanation = choice.explanation()
    state.chosen_at = now
    ticket.sla_policy_name = choice.policy.name if choice.policy else None
    _measure(ticket, choice.policy, now, segments, clocks)
    return ticket.sla_policy_name


def record_status_change(ticket: Ticket, old_status: str) -> None:
    """Close the ledger segment when the status category changes; solving stops the resolution
    clock, reopening resumes it (the solved time does not count)."""
    old, new = STATUS_CATEGORIES[old_status], STATUS_CATEGORIES[ticket.status]
    if old == new:
        return
    now = utcnow()
    current = db.session.scalar(select(SlaSegment).where(
        SlaSegment.ticket_id == ticket.id, SlaSegment.ended_at.is_(None)))
    if current is not None:
        current.ended_at = now
    db.session.add(SlaSegment(ticket_id=ticket.id, category=new, started_at=now))
    clocks = ticket_clocks(ticket.id)
    resolution = _latest(clocks, "resolution")
    if resolution is not None:
        if new == "solved" and resolution.stopped_at is None:
            resolution.stopped_at = now
        elif old == "solved" and resolution.stopped_at is not None:
            resolution.stopped_at = None
    _measure(ticket, _policy_of_ticket(ticket), now, clocks=clocks)


def record_customer_message(ticket: Ticket, at: datetime) -> None:
    """A customer wrote: once the first reply is done, the team owes a next reply."""
    if ticket.first_replied_at is None:
        # No agent reply yet, so the first-reply clock still runs (only an agent reply,
        # which stamps first_replied_at, stops it): nothing to start, nothing to read.
        return
    clocks = ticket_clocks(ticket.id)
    first = _latest(clocks, "first_reply")
    pending = _latest(clocks, "next_reply")
    if first is None or first.stopped_at is None or (pending and pending.stopped_at is None):
        return
    clock = SlaClock(ticket_id=ticket.id, kind="next_reply", status="running", started_at=at,
                     escalation_step=0)
    db.session.add(clock)
    _measure(ticket, _policy_of_ticket(ticket), utcnow(), clocks=[*clocks, clock])


def record_agent_reply(ticket: Ticket, at: datetime) -> None:
    """A public agent reply meets first reply and next reply, and restarts periodic update.

    Internal notes never call this: they are not an answer to the customer.
    """
    clocks = ticket_clocks(ticket.id)
    for clock in clocks:
        if clock.stopped_at is None and clock.kind != "resolution":
            clock.stopped_at = at
    periodic = SlaClock(ticket_id=ticket.id, kind="periodic_update", status="running",
                        started_at=at, escalation_step=0)
    db.session.add(periodic)
    _measure(ticket, _policy_of_ticket(ticket), utcnow(), clocks=[*clocks, periodic])


def _latest(clocks: Sequence[SlaClock], kind: ClockKind) -> SlaClock | None:
    """The current cycle's clock of ``kind`` (``clocks`` in id order; unwritten ones last)."""
    return next((clock for clock in reversed(clocks) if clock.kind == kind), None)


def _policy_of_ticket(ticket: Ticket) -> Policy | None:
    state = db.session.get(SlaTicket, ticket.id)
    if state is None or state.policy_id is None:
        return None
    return policy_by_id(state.policy_id)


def _measure(ticket: Ticket, policy: Policy | None, now: datetime,
             segments: Sequence[Segment] | None = None,
             clocks: Sequence[SlaClock] | None = None) -> None:
    """Re-measure ``clocks`` (default: all the ticket's) against ``segments`` (default: its
    ledger) and mirror the deadlines on the ticket. Written at the caller's flush."""
    segments = ledger(ticket.id) if segments is None else segments
    clocks = ticket_clocks(ticket.id) if clocks is None else clocks
    for clock in clocks:
        measure_clock(clock, policy, ticket.priority, segments, now)
    for clock in clocks:  # later rows of a kind win: they are the current cycle
        if clock.kind in _MIRRORED:
            setattr(ticket, _MIRRORED[clock.kind], clock.due_at)
    soon = [clock for clock in clocks if is_near(clock.next_action_at, now)]
    if any(clock.id is None for clock in soon):
        db.session.flush()  # the exact job needs the clock's id
    for clock in soon:
        assert clock.next_action_at is not None
        queue_escalation(clock.id, clock.next_action_at, now)


def is_near(instant: datetime | None, now: datetime) -> bool:
    """Whether an escalation step at ``instant`` is due before the periodic sweep has surely
    run again (and queued an exact job for it then)."""
    return instant is not None and (instant - now).total_seconds() <= EXACT_JOB_HORIZON_SECONDS


def queue_escalation(clock_id: int, at: datetime, now: datetime) -> None:
    """An exact job for the clock's escalation step at ``at`` (idempotent with the sweep)."""
    enqueue("helpdesk.sla.tasks.escalate_clock", clock_id, queue="sla",
            delay=max(0.0, (at - now).total_seconds()))


def measure_clock(clock: SlaClock, policy: Policy | None, priority: str,
                  segments: Sequence[Segment], now: datetime) -> None:
    """Re-measure one clock from the ledger; stamp status, due, warning and next step."""
    values = clock_measures(policy, priority, clock.kind, clock.status, clock.started_at,
                            clock.stopped_at, clock.escalation_step, segments, now)
    for name, value in (values or {}).items():
        setattr(clock, name, value)


def clock_measures(policy: Policy | None, priority: str, kind: str, status: str,
                   started_at: datetime, stopped_at: datetime | None, escalation_step: int,
                   segments: Sequence[Segment], now: datetime) -> dict[str, Any] | None:
    """The clock columns measured from the ledger (None: leave the clock as it is).

    A stopped clock keeps its met/breached verdict: a later policy does not rewrite history.
    """
    if stopped_at is not None and status in ("met", "breached"):
        return None
    clock_kind: ClockKind = kind  # type: ignore[assignment]
    target = policy.target(priority, clock_kind) if policy else None
    if policy is None or target is None:
        return {"status": "none", "target_minutes": None, "due_at": None, "warn_at": None,
                "next_action_at": None}
    evaluation = evaluate_clock(policy, clock_kind, target, started_at, stopped_at, segments,
                                now)
    next_action_at = None
    if evaluation.running and evaluation.due_at is not None:
        next_action_at = next(
            (step.at for step in escalation_steps(policy, target, evaluation.warn_at,
                                                  evaluation.due_at)
             if step.number > escalation_step), None)
    return {"status": evaluation.status,
            "target_minutes": int(target.duration.total_seconds() // 60),
            "elapsed_seconds": int(evaluation.elapsed.total_seconds()),
            "due_at": evaluation.due_at, "warn_at": evaluation.warn_at,
            "next_action_at": next_action_at}


# --- Admin rows ----------------------------------------------------------------------------

def save_calendar(calendar: SlaCalendar | None, *, name: str, timezone: str,
                  weekly_hours: list[list[list[int]]], holiday_country: str | None,
                  holiday_subdivision: str | None, closed_dates: list[str],
                  extra_working_days: list[str]) -> SlaCalendar:
    """Create or update a calendar (values already validated by the pure parser); open
    tickets are re-measured by :func:`helpdesk.sla.tasks.recompute_open_tickets` after
    commit."""
    if calendar is None:
        calendar = SlaCalendar()
        db.session.add(calendar)
    calendar.name, calendar.timezone, calendar.weekly_hours = name, timezone, weekly_hours
    calendar.holiday_country = holiday_country or None
    calendar.holiday_subdivision = holiday_subdivision or None
    calendar.closed_dates, calendar.extra_working_days = closed_dates, extra_working_days
    calendar.updated_at = utcnow()
    db.session.flush()
    # Open tickets on the calendar's policies get deadlines from its new hours and holidays.
    enqueue("helpdesk.sla.tasks.recompute_open_tickets", queue="sla")
    return calendar


def save_policy(policy: SlaPolicy | None, *, name: str, position: int, active: bool = True,
                calendar_id: int | None = None, conditions: dict[str, object] | None = None,
                targets: dict[str, object], pauses: dict[str, object] | None = None,
                warn_share: float | None = 0.75,
                escalations: list[object] | None = None) -> SlaPolicy:
    """Create or update a policy row; the caller validated the documents with ``policy_of``.

    Open tickets are re-measured by :func:`helpdesk.sla.tasks.recompute_open_tickets`, queued
    after commit.
    """
    if policy is None:
        policy = SlaPolicy()
        db.session.add(policy)
    policy.name, policy.position, policy.active = name, position, active
    policy.calendar_id = calendar_id
    policy.conditions, policy.targets = conditions or {}, targets
    policy.pauses, policy.warn_share, policy.escalations = pauses or {}, warn_share, \
        escalations or []
    policy.updated_at = utcnow()
    db.session.flush()
    enqueue("helpdesk.sla.tasks.recompute_open_tickets", queue="sla")
    return policy


def set_team_lead(team_id: int, agent_id: int | None) -> None:
    """Whom "notify the team lead" reaches for the team (None: nobody)."""
    row = db.session.get(SlaTeamLead, team_id)
    if agent_id is None:
        if row is not None:
            db.session.delete(row)
    elif row is None:
        db.session.add(SlaTeamLead(team_id=team_id, agent_id=agent_id))
    else:
        row.agent_id = agent_id
    db.session.flush()
