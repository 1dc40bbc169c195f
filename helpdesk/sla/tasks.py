"""SLA jobs: the escalation sweep (exact per-clock jobs plus a periodic safety net) and the
re-measuring of open tickets after a policy changed.

The sweep reads only clocks whose next escalation step is due (``next_action_at``, indexed),
does that step's actions and stamps the step number, so running it twice does nothing. Each
periodic run also queues an exact job for every step due before the sweep has surely run
again, so steps happen at their instant while the queue holds only the next minutes' jobs
(not one per open clock and change).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, insert, select, update

from helpdesk.actors import SYSTEM
from helpdesk.auth.models import Agent
from helpdesk.db import db, utcnow
from helpdesk.notifications.operations import NewNotification, notify_agents
from helpdesk.sla.models import SlaClock, SlaPolicy, SlaTeamLead, SlaTicket
from helpdesk.sla.operations import (
    EXACT_JOB_HORIZON_SECONDS,
    clock_measures,
    is_near,
    queue_escalation,
)
from helpdesk.sla.policy import (
    Action,
    ClockKind,
    Policy,
    choose_policy,
    escalation_steps,
)
from helpdesk.sla.queries import policy_of, policy_rows, ticket_batches
from helpdesk.tickets.models import PRIORITIES, UNRESOLVED_STATUSES, Ticket, TicketEvent
from helpdesk.tickets.operations import update_ticket

SWEEP_BATCH = 5000
RECOMPUTE_BATCH = 2000
CLOCK_LABELS = {"first_reply": _l("first reply"), "next_reply": _l("next reply"),
                "periodic_update": _l("periodic update"), "resolution": _l("resolution")}


def escalate_clock(clock_id: int) -> int:
    """The exact job queued for a clock's next escalation instant. Idempotent."""
    return sweep(clock_id=clock_id)


def run_escalation_sweep() -> int:
    """Periodic: do every escalation step that is due, then queue exact jobs for the steps
    due before the next runs. Idempotent. Returns how many clocks had a step done."""
    done = sweep()
    queue_upcoming_escalations(utcnow())
    return done


def queue_upcoming_escalations(now: datetime) -> int:
    """Queue an exact job for each clock whose next step falls within
    :data:`~helpdesk.sla.operations.EXACT_JOB_HORIZON_SECONDS` (two sweep intervals: a
    step is seen by two runs, so one late run misses nothing; the job is idempotent).
    Returns how many were queued."""
    rows = db.session.execute(
        select(SlaClock.id, SlaClock.next_action_at)
        .where(SlaClock.next_action_at > now,
               SlaClock.next_action_at <= now + timedelta(seconds=EXACT_JOB_HORIZON_SECONDS))
    ).all()
    for clock_id, at in rows:
        assert at is not None  # the query's condition
        queue_escalation(clock_id, at, now)
    return len(rows)


@dataclass
class _Work:
    #: The notification texts (warning, breach), translated once per sweep, not per clock.
    texts: dict[bool, str]
    notifications: list[NewNotification] = field(default_factory=list)
    #: (escalation step done, next action at) -> clock ids.
    stamps: dict[tuple[int, datetime | None], list[int]] = field(
        default_factory=lambda: defaultdict(list))
    events: list[dict[str, object]] = field(default_factory=list)
    #: (ticket id, action) for actions that change the ticket through ticket operations.
    ticket_actions: list[tuple[int, Action]] = field(default_factory=list)
    #: (clock id, instant) of next steps close enough for an exact job now.
    exact: list[tuple[int, datetime]] = field(default_factory=list)


def _due_clocks(now: datetime, clock_id: int | None) -> Select[*tuple[Any, ...]]:
    query = (select(SlaClock.id, SlaClock.kind, SlaClock.escalation_step, SlaClock.warn_at,
                    SlaClock.due_at, SlaClock.ticket_id, Ticket.priority, Ticket.assignee_id,
                    Ticket.team_id, Ticket.subject, SlaTicket.policy_id)
             .join(Ticket, Ticket.id == SlaClock.ticket_id)
             .join(SlaTicket, SlaTicket.ticket_id == SlaClock.ticket_id)
             .where(SlaClock.next_action_at <= now)
             .order_by(SlaClock.next_action_at).limit(SWEEP_BATCH))
    if clock_id is not None:
        query = query.where(SlaClock.id == clock_id)
    if db.session.get_bind().dialect.name == "postgresql":
        # Two sweeps (the exact job and the periodic one) never take the same clock.
        query = query.with_for_update(of=SlaClock, skip_locked=True)
    return query


def sweep(now: datetime | None = None, clock_id: int | None = None) -> int:
    """Do the due escalation steps of all clocks (or one clock); return how many clocks."""
    now = now or utcnow()
    policies: dict[int, Policy | None] = {}
    leads = dict(db.session.execute(select(SlaTeamLead.team_id, SlaTeamLead.agent_id)).all())
    agents_by_email: dict[str, int | None] = {}
    done = 0
    while True:
        rows = db.session.execute(_due_clocks(now, clock_id)).all()
        if not rows:
            return done
        work = _Work({
            True: _("SLA warning: %(clock)s due %(due)s UTC on #%(id)s %(subject)s"),
            False: _("SLA breached: %(clock)s was due %(due)s UTC on #%(id)s %(subject)s")})
        for row in rows:
            if row.policy_id not in policies:
                policy_row = db.session.get(SlaPolicy, row.policy_id) if row.policy_id else None
                policies[row.policy_id] = policy_of(policy_row) if policy_row else None
            _plan(work, row, policies[row.policy_id], leads, agents_by_email, now)
        _apply(work, now)
        done += len(rows)
        if clock_id is not None or len(rows) < SWEEP_BATCH:
            return done


def _plan(work: _Work, row: Any, policy: Policy | None, leads: dict[int, int],
          agents_by_email: dict[str, int | None], now: datetime) -> None:
    kind: ClockKind = row.kind
    target = policy.target(row.priority, kind) if policy else None
    if policy is None or target is None or row.due_at is None:
        work.stamps[row.escalation_step, None].append(row.id)
        return
    steps = [step for step in escalation_steps(policy, target, row.warn_at,
                                               row.due_at)
             if step.number > row.escalation_step]
    due = [step for step in steps if step.at <= now]
    if any(not step.is_warning for step in due):  # late already: a warning would be noise
        due = [step for step in due if not step.is_warning]
    later = [step for step in steps if step.at > now]
    last = max((step.number for step in due), default=row.escalation_step)
    work.stamps[last, later[0].at if later else None].append(row.id)
    if later and is_near(later[0].at, now):
        work.exact.append((row.id, later[0].at))
    label = str(CLOCK_LABELS[kind])  # in the sweep's locale, like the texts around it
    for step in due:
        text = work.texts[step.is_warning] % {
            "clock": label, "due": row.due_at.strftime("%Y-%m-%d %H:%M"), "id": row.ticket_id,
            "subject": row.subject}
        work.events.append({"ticket_id": row.ticket_id, "actor_kind": "system",
                            "actor_id": None, "actor_name": SYSTEM.name,
                            "kind": "sla-warning" if step.is_warning else "sla-escalation",
                            "old_value": label, "new_value": f"step {step.number}",
                            "created_at": now})
        for action in step.actions:
            if action.kind != "notify":
                work.ticket_actions.append((row.ticket_id, action))
                continue
            recipient = _recipient(action.value, row, leads, agents_by_email)
            if recipient is not None:
                work.notifications.append(NewNotification(
                    recipient, row.ticket_id,
                    "sla-warning" if step.is_warning else "sla-breach", text))


def _recipient(value: str, row: Any, leads: dict[int, int],
               agents_by_email: dict[str, int | None]) -> int | None:
    if value == "assignee":
        return row.assignee_id
    if value == "team_lead":
        return leads.get(row.team_id)
    return _agent_id(value, agents_by_email)


def _agent_id(email: str, cache: dict[str, int | None]) -> int | None:
    if email not in cache:
        cache[email] = db.session.scalar(select(Agent.id).where(Agent.email == email.lower()))
    return cache[email]


def _write_stamps(stamps: dict[tuple[int, datetime | None], list[int]]) -> None:
    """One UPDATE for each set of clocks that got the same stamp (typically: last step done,
    nothing more to do), and one executemany for the clocks whose stamp is their own."""
    own = []
    for (step, next_action_at), ids in stamps.items():
        if len(ids) == 1:
            own.append({"id": ids[0], "escalation_step": step,
                        "next_action_at": next_action_at})
        else:
            db.session.execute(update(SlaClock).where(SlaClock.id.in_(ids)).values(
                escalation_step=step, next_action_at=next_action_at))
    if own:
        db.session.execute(update(SlaClock), own)


def _apply(work: _Work, now: datetime) -> None:
    _write_stamps(work.stamps)
    for clock_id, at in work.exact:
        queue_escalation(clock_id, at, now)
    if work.events:
        db.session.execute(insert(TicketEvent), work.events)
    notify_agents(work.notifications)
    for ticket_id, action in work.ticket_actions:
        ticket = db.session.get(Ticket, ticket_id)
        if ticket is not None:
            _act_on_ticket(ticket, action)
    db.session.flush()


def _act_on_ticket(ticket: Ticket, action: Action) -> None:
    """Reassign, raise the priority or tag a late ticket, through the ticket operations (so
    each change is in its history and re-measures the SLA)."""
    if action.kind == "reassign":
        agent = db.session.scalar(select(Agent).where(Agent.email == action.value.lower()))
        if agent is not None:
            update_ticket(SYSTEM, ticket, assignee=agent)
    elif action.kind == "raise_priority":
        rank = PRIORITIES.index(ticket.priority)
        if rank + 1 < len(PRIORITIES):
            update_ticket(SYSTEM, ticket, priority=PRIORITIES[rank + 1])
    elif action.kind == "add_tag" and action.value not in (ticket.tags or []):
        ticket.tags = [*(ticket.tags or []), action.value]
        db.session.add(TicketEvent(ticket_id=ticket.id, actor_kind=SYSTEM.kind,
                                   actor_id=None, actor_name=SYSTEM.name, kind="tag",
                                   new_value=action.value))


# --- Re-measuring after a policy change ----------------------------------------------------

def recompute_open_tickets() -> int:
    """Choose the policy of every unresolved ticket again and re-measure its open clocks from
    its ledger (elapsed time kept). Idempotent. Returns the number of tickets re-measured.

    A ticket that keeps its policy, when that policy and its calendar are unchanged since the
    ticket was last measured, keeps its clocks as they are (only a changed explanation is
    written): saving one policy re-measures only the tickets it concerns.
    """
    rows = [row for row in policy_rows() if row.active]
    policies = [policy_of(row) for row in rows]
    changed_at = {row.id: max(row.updated_at, row.calendar.updated_at if row.calendar
                              else row.updated_at) for row in rows}
    now = utcnow()
    count = 0
    for batch in ticket_batches(Ticket.status.in_(UNRESOLVED_STATUSES), open_clocks_only=True,
                                size=RECOMPUTE_BATCH):
        choices: list[dict[str, Any]] = []
        mirrors: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for ticket_id, facts in batch.facts.items():
            choice = choose_policy(policies, facts)
            policy = choice.policy
            stored = batch.choices[ticket_id]
            explanation = choice.explanation()
            if _measured_under(stored, policy, changed_at):
                if explanation != stored.explanation:
                    choices.append({"ticket_id": ticket_id, "explanation": explanation})
                continue
            count += 1
            choice_row: dict[str, Any] = {"ticket_id": ticket_id,
                                          "policy_id": policy.id if policy else None,
                                          "chosen_at": now}
            if explanation != stored.explanation:  # usually the same: spare the JSON write
                choice_row["explanation"] = explanation
            choices.append(choice_row)
            mirror: dict[str, Any] = {"id": ticket_id,
                                      "sla_policy_name": policy.name if policy else None}
            for clock in batch.clocks[ticket_id]:
                values = clock_measures(policy, facts.priority, clock.kind, clock.status,
                                        clock.started_at, clock.stopped_at,
                                        clock.escalation_step, batch.segments[ticket_id], now)
                if values is None:
                    continue
                updates.append({"id": clock.id, "elapsed_seconds": 0, **values})
                if clock.kind in ("first_reply", "resolution"):
                    mirror[f"{clock.kind}_due"] = values["due_at"]
            mirrors.append(mirror)
        for statement, parameters in ((update(SlaTicket), choices), (update(Ticket), mirrors),
                                      (update(SlaClock), updates)):
            if parameters:
                db.session.execute(statement, parameters)
    return count


def _measured_under(stored: Any, policy: Policy | None,
                    changed_at: dict[int, datetime]) -> bool:
    """Whether the ticket's clocks were last measured under ``policy`` as it is now."""
    if stored.chosen_at is None or stored.policy_id != (policy.id if policy else None):
        return False
    return policy is None or (policy.id is not None and changed_at[policy.id] < stored.chosen_at)
