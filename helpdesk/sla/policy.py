"""Which SLA policy applies to a ticket, and where its clocks stand (pure).

Policies are ordered; the first whose conditions all hold applies, and the choice keeps every
check it made so the ticket page can say *why* (which conditions matched, why each earlier
policy did not). A policy has targets per priority for four clocks (first reply, next reply,
periodic update, resolution), each counted in business hours on the policy's calendar or in
calendar hours.

Clocks are measured against the ticket's **ledger**: the periods during which the ticket sat in
each status category (open, waiting on customer, on hold, solved). Which categories pause which
clock is policy data, so a changed policy (or priority) re-reads the same ledger: elapsed time
is preserved and deadlines move, never restart. A clock is *running*, *paused*, *met* (stopped
within target) or *breached* (stopped late); a running clock past its due instant is overdue,
which is computed when read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from helpdesk.sla.calendar import (
    ALWAYS_OPEN,
    BusinessCalendar,
    add_business_time,
    business_time_between,
)

ClockKind = Literal["first_reply", "next_reply", "periodic_update", "resolution"]
CLOCK_KINDS: tuple[ClockKind, ...] = ("first_reply", "next_reply", "periodic_update",
                                      "resolution")
ClockStatus = Literal["running", "paused", "met", "breached"]

CATEGORIES = ("open", "waiting", "hold", "solved")
#: Ticket statuses by category. A solved ticket owes nothing: every clock pauses there.
STATUS_CATEGORIES = {"new": "open", "open": "open", "pending": "waiting", "on-hold": "hold",
                     "solved": "solved", "closed": "solved"}
DEFAULT_PAUSES: Mapping[ClockKind, frozenset[str]] = {
    "first_reply": frozenset(),
    "next_reply": frozenset({"waiting", "hold"}),
    "periodic_update": frozenset({"waiting", "hold"}),
    "resolution": frozenset({"waiting", "hold"}),
}
ACTIONS = ("notify", "reassign", "raise_priority", "add_tag")


class PolicyError(ValueError):
    """A policy definition that cannot work; the message names the faulty part."""


@dataclass(frozen=True, slots=True)
class Conditions:
    """What a ticket must look like for a policy to apply. Empty means "any"."""

    priorities: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    organizations: frozenset[str] = frozenset()
    customer_tiers: frozenset[str] = frozenset()
    #: The customer (CRM profile) or ticket must carry at least one of these tags.
    customer_tags: frozenset[str] = frozenset()
    ticket_tags: frozenset[str] = frozenset()
    #: Custom fields that must hold exactly these values.
    custom_fields: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """What policy conditions read from a ticket and its customer's CRM profile."""

    priority: str
    channel: str
    team: str | None = None
    organization: str | None = None
    customer_tier: str | None = None
    customer_tags: frozenset[str] = frozenset()
    ticket_tags: frozenset[str] = frozenset()
    custom_fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Target:
    duration: timedelta
    business_hours: bool = True


@dataclass(frozen=True, slots=True)
class Action:
    """One escalation action: ``notify`` (assignee, team_lead or an agent's email),
    ``reassign`` (an agent's email), ``raise_priority``, ``add_tag`` (the tag)."""

    kind: str
    value: str = ""


@dataclass(frozen=True, slots=True)
class EscalationLevel:
    #: Time after the due instant (business time when the target is in business hours).
    after: timedelta
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class Policy:
    name: str
    conditions: Conditions = Conditions()
    #: priority -> clock -> target; a clock without a target does not run.
    targets: Mapping[str, Mapping[ClockKind, Target]] = field(default_factory=dict)
    calendar: BusinessCalendar = ALWAYS_OPEN
    pauses: Mapping[ClockKind, frozenset[str]] = field(default_factory=lambda: DEFAULT_PAUSES)
    #: Warn when this share of a target has elapsed (None: no warning).
    warn_share: float | None = 0.75
    escalation_levels: tuple[EscalationLevel, ...] = ()
    id: int | None = None

    def target(self, priority: str, kind: ClockKind) -> Target | None:
        return self.targets.get(priority, {}).get(kind)

    def calendar_for(self, target: Target) -> BusinessCalendar:
        return self.calendar if target.business_hours else ALWAYS_OPEN

    def pauses_clock(self, kind: ClockKind, category: str) -> bool:
        return category == "solved" or category in self.pauses.get(kind, frozenset())


# --- Choosing a policy ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Check:
    condition: str
    passed: bool
    #: What the ticket had, and what the condition wanted.
    actual: str
    wanted: str


@dataclass(frozen=True, slots=True)
class Verdict:
    policy: str
    matched: bool
    checks: tuple[Check, ...]


@dataclass(frozen=True, slots=True)
class Choice:
    policy: Policy | None
    verdicts: tuple[Verdict, ...]

    def explanation(self) -> list[dict[str, Any]]:
        """The verdicts as JSON-ready data, stored on the ticket."""
        return [{"policy": verdict.policy, "matched": verdict.matched,
                 "checks": [{"condition": check.condition, "passed": check.passed,
                             "actual": check.actual, "wanted": check.wanted}
                            for check in verdict.checks]}
                for verdict in self.verdicts]


def _one_of(name: str, wanted: frozenset[str], actual: str | None) -> Check | None:
    if not wanted:
        return None
    folded = {value.casefold() for value in wanted}
    return Check(name, actual is not None and actual.casefold() in folded, actual or "—",
                 ", ".join(sorted(wanted)))


def _any_tag(name: str, wanted: frozenset[str], actual: frozenset[str]) -> Check | None:
    if not wanted:
        return None
    folded = {value.casefold() for value in actual}
    return Check(name, any(tag.casefold() in folded for tag in wanted),
                 ", ".join(sorted(actual)) or "—", ", ".join(sorted(wanted)))


def check_conditions(conditions: Conditions, facts: TicketFacts) -> tuple[Check, ...]:
    """Every condition the policy sets, checked against the ticket."""
    checks = [
        _one_of("priority", conditions.priorities, facts.priority),
        _one_of("channel", conditions.channels, facts.channel),
        _one_of("team", conditions.teams, facts.team),
        _one_of("organization", conditions.organizations, facts.organization),
        _one_of("customer_tier", conditions.customer_tiers, facts.customer_tier),
        _any_tag("customer_tags", conditions.customer_tags, facts.customer_tags),
        _any_tag("ticket_tags", conditions.ticket_tags, facts.ticket_tags),
    ]
    for key, wanted in conditions.custom_fields:
        actual = facts.custom_fields.get(key)
        checks.append(Check(f"field:{key}", actual is not None and str(actual) == wanted,
                            "—" if actual is None else str(actual), wanted))
    return tuple(check for check in checks if check is not None)


def choose_policy(policies: Sequence[Policy], facts: TicketFacts) -> Choice:
    """The first policy (in order) whose conditions all hold, with the reasons for each."""
    verdicts = []
    for policy in policies:
        checks = check_conditions(policy.conditions, facts)
        matched = all(check.passed for check in checks)
        verdicts.append(Verdict(policy.name, matched, checks))
        if matched:
            return Choice(policy, tuple(verdicts))
    return Choice(None, tuple(verdicts))


# --- Clocks over the ledger ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Segment:
    """The ticket sat in ``category`` from ``start`` until ``end`` (None: still there)."""

    category: str
    start: datetime
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class Piece:
    """A stretch of one clock's life, for the timeline."""

    start: datetime
    end: datetime
    #: "running", "paused" (the category pauses it) or "closed" (running, outside hours).
    state: str
    category: str


@dataclass(frozen=True, slots=True)
class ClockEvaluation:
    status: ClockStatus
    elapsed: timedelta
    target: timedelta
    #: When the target is (or was) reached; None while paused short of it.
    due_at: datetime | None
    #: When the warning share is (or was) reached; None without warning or while paused.
    warn_at: datetime | None

    @property
    def running(self) -> bool:
        return self.status == "running"


def _pieces(policy: Policy, kind: ClockKind, started_at: datetime, until: datetime,
            segments: Sequence[Segment]) -> list[tuple[datetime, datetime | None, bool, str]]:
    """(start, end, running, category) pieces of the clock's span; end None = still open."""
    result = []
    for segment in segments:
        start = max(segment.start, started_at)
        end = segment.end
        if end is not None and end <= start:
            continue
        if start > until or (start == until and end is not None):
            break
        if end is not None and end > until:
            end = until
        result.append((start, end, not policy.pauses_clock(kind, segment.category),
                       segment.category))
    return result


def _reached(calendar: BusinessCalendar, amount: timedelta,
             pieces: Sequence[tuple[datetime, datetime | None, bool, str]]) -> datetime | None:
    """The instant the running pieces accumulate ``amount``, if they do (an open running
    piece always does)."""
    remaining = amount
    for start, end, running, _ in pieces:
        if not running:
            continue
        if end is None:
            return add_business_time(calendar, start, remaining)
        used = business_time_between(calendar, start, end)
        if used >= remaining:
            return add_business_time(calendar, start, remaining)
        remaining -= used
    return None


def evaluate_clock(policy: Policy, kind: ClockKind, target: Target, started_at: datetime,
                   stopped_at: datetime | None, segments: Sequence[Segment],
                   now: datetime) -> ClockEvaluation:
    """Where a clock stands at ``now``: elapsed time, status and due instant, from the ledger.

    ``stopped_at`` is when the clock's work was done (the reply was sent, the ticket solved).
    """
    calendar = policy.calendar_for(target)
    until = stopped_at or now
    pieces = _pieces(policy, kind, started_at, until, segments)
    elapsed = sum((business_time_between(calendar, start, end or until)
                   for start, end, running, _ in pieces if running), timedelta(0))
    open_pieces = pieces if stopped_at is None else [
        (start, end or until, running, category) for start, end, running, category in pieces]
    due_at = _reached(calendar, target.duration, open_pieces)
    warn_at = None
    if policy.warn_share is not None:
        warn_at = _reached(calendar, target.duration * policy.warn_share, open_pieces)
    status: ClockStatus
    if stopped_at is not None:
        status = "met" if elapsed <= target.duration else "breached"
    elif pieces and pieces[-1][1] is None and pieces[-1][2]:
        status = "running"
    else:
        status = "paused"
    return ClockEvaluation(status, elapsed, target.duration, due_at, warn_at)


def clock_timeline(policy: Policy, kind: ClockKind, target: Target, started_at: datetime,
                   stopped_at: datetime | None, segments: Sequence[Segment],
                   now: datetime) -> list[Piece]:
    """The clock's life in pieces: running, paused (and why), or closed (outside hours)."""
    calendar = policy.calendar_for(target)
    until = stopped_at or now
    result = []
    for start, end, running, category in _pieces(policy, kind, started_at, until, segments):
        end = end or until
        if not running:
            result.append(Piece(start, end, "paused", category))
            continue
        cursor = start
        for open_start, open_end in calendar.open_intervals(start, end):
            if open_start > cursor:
                result.append(Piece(cursor, open_start, "closed", category))
            result.append(Piece(open_start, open_end, "running", category))
            cursor = open_end
        if cursor < end:
            result.append(Piece(cursor, end, "closed", category))
    return result


# --- Escalation ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Step:
    """Escalation step ``number`` (1 = the warning, 2.. = the breach levels) due at ``at``."""

    number: int
    at: datetime
    actions: tuple[Action, ...]
    is_warning: bool


def escalation_steps(policy: Policy, target: Target, warn_at: datetime | None,
                     due_at: datetime) -> list[Step]:
    """The warning and breach levels of a running clock due at ``due_at``, in order."""
    steps = []
    if warn_at is not None:
        steps.append(Step(1, warn_at, (Action("notify", "assignee"),), True))
    calendar = policy.calendar_for(target)
    for number, level in enumerate(policy.escalation_levels, start=2):
        steps.append(Step(number, add_business_time(calendar, due_at, level.after),
                          level.actions, False))
    return steps


# --- Policy documents admins edit (JSON) ---------------------------------------------------

def _strings(value: Any, where: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise PolicyError(f"{where}: expected a list of strings")
    return frozenset(item.strip() for item in value if item.strip())


_CONDITION_KEYS = {"priority": "priorities", "channel": "channels", "team": "teams",
                   "organization": "organizations", "customer_tier": "customer_tiers",
                   "customer_tags": "customer_tags", "ticket_tags": "ticket_tags"}


def parse_conditions(document: Any) -> Conditions:
    """``{"priority": ["urgent"], "customer_tier": ["VIP"], "fields": {"plan": "gold"}}``."""
    if not isinstance(document, dict):
        raise PolicyError("conditions: expected an object")
    unknown = set(document) - set(_CONDITION_KEYS) - {"fields"}
    if unknown:
        raise PolicyError(f"conditions: unknown {', '.join(sorted(unknown))}")
    fields = document.get("fields") or {}
    if not isinstance(fields, dict):
        raise PolicyError("conditions.fields: expected an object")
    values = {attribute: _strings(document.get(key), f"conditions.{key}")
              for key, attribute in _CONDITION_KEYS.items()}
    return Conditions(**values, custom_fields=tuple(sorted(
        (str(key), str(value)) for key, value in fields.items())))


def parse_targets(document: Any) -> dict[str, dict[ClockKind, Target]]:
    """``{"urgent": {"first_reply": {"minutes": 60, "business_hours": true}, ...}, ...}``."""
    if not isinstance(document, dict):
        raise PolicyError("targets: expected an object by priority")
    result: dict[str, dict[ClockKind, Target]] = {}
    for priority, clocks in document.items():
        if not isinstance(clocks, dict):
            raise PolicyError(f"targets.{priority}: expected an object by clock")
        result[priority] = {}
        for kind, spec in clocks.items():
            if kind not in CLOCK_KINDS:
                raise PolicyError(f"targets.{priority}: unknown clock {kind!r}")
            minutes = spec.get("minutes") if isinstance(spec, dict) else spec
            if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes <= 0:
                raise PolicyError(f"targets.{priority}.{kind}: minutes must be a positive whole"
                                  " number")
            business = spec.get("business_hours", True) if isinstance(spec, dict) else True
            result[priority][kind] = Target(timedelta(minutes=minutes), bool(business))
    return result


def parse_pauses(document: Any) -> dict[ClockKind, frozenset[str]]:
    """``{"resolution": ["waiting", "hold"], ...}``; clocks not named keep the defaults."""
    if not isinstance(document, dict):
        raise PolicyError("pauses: expected an object by clock")
    result = dict(DEFAULT_PAUSES)
    for kind, categories in document.items():
        if kind not in CLOCK_KINDS:
            raise PolicyError(f"pauses: unknown clock {kind!r}")
        values = _strings(categories, f"pauses.{kind}")
        if values - set(CATEGORIES):
            raise PolicyError(f"pauses.{kind}: categories are {', '.join(CATEGORIES)}")
        result[kind] = values
    return result


def parse_escalations(document: Any) -> tuple[EscalationLevel, ...]:
    """``[{"after_minutes": 0, "actions": [["notify", "assignee"], ["add_tag", "late"]]}]``."""
    if not isinstance(document, list):
        raise PolicyError("escalations: expected a list of levels")
    levels = []
    for index, level in enumerate(document, start=1):
        if not isinstance(level, dict) or not isinstance(level.get("actions"), list):
            raise PolicyError(f"escalations[{index}]: expected after_minutes and actions")
        after = level.get("after_minutes", 0)
        if not isinstance(after, int) or after < 0:
            raise PolicyError(f"escalations[{index}].after_minutes: a whole number ≥ 0")
        actions = []
        for item in level["actions"]:
            kind, value = (item[0], item[1] if len(item) > 1 else "") if isinstance(
                item, list) and item else (item, "")
            if kind not in ACTIONS:
                raise PolicyError(f"escalations[{index}]: unknown action {kind!r}")
            if kind in ("reassign", "add_tag") and not value:
                raise PolicyError(f"escalations[{index}]: {kind} needs a value")
            actions.append(Action(str(kind), str(value)))
        levels.append(EscalationLevel(timedelta(minutes=after), tuple(actions)))
    return tuple(levels)


# --- Reading a deadline in a list ----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ClockReading:
    state: Literal["running", "met", "breached", "none"]
    #: Time left until due (negative once overdue); None when there is no deadline.
    remaining: timedelta | None

    @property
    def overdue(self) -> bool:
        return self.remaining is not None and self.remaining < timedelta(0)


def read_clock(due: datetime | None, done_at: datetime | None, now: datetime) -> ClockReading:
    """Where a deadline stands at ``now`` given when its work was done (queue lists)."""
    if due is None:
        return ClockReading("none", None)
    if done_at is not None:
        return ClockReading("met" if done_at <= due else "breached", due - done_at)
    remaining = due - now
    return ClockReading("running" if remaining >= timedelta(0) else "breached", remaining)
