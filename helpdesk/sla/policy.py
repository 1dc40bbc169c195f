"""Which SLA targets apply to a ticket and where its clocks stand (pure).

A ticket carries two clocks: first reply and resolution. Each has a due instant; a clock is
*met* when the work happened by then, *breached* when it happened late or is still missing
after the due instant, otherwise *running*. Overdue is computed when read, never stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from helpdesk.sla.calendar import BusinessCalendar, add_business_time

ClockState = Literal["running", "met", "breached", "none"]


@dataclass(frozen=True, slots=True)
class PolicyTargets:
    name: str
    priority: str
    first_reply: timedelta
    resolution: timedelta


@dataclass(frozen=True, slots=True)
class Deadlines:
    policy_name: str
    first_reply_due: datetime
    resolution_due: datetime


@dataclass(frozen=True, slots=True)
class ClockReading:
    state: ClockState
    #: Time left until due (negative once overdue); None when there is no clock.
    remaining: timedelta | None

    @property
    def overdue(self) -> bool:
        return self.remaining is not None and self.remaining < timedelta(0)


def choose_policy(policies: Sequence[PolicyTargets], priority: str) -> PolicyTargets | None:
    """The policy for ``priority``, or None when the admins defined none for it."""
    return next((policy for policy in policies if policy.priority == priority), None)


def compute_deadlines(policy: PolicyTargets, calendar: BusinessCalendar,
                      start: datetime) -> Deadlines:
    return Deadlines(
        policy_name=policy.name,
        first_reply_due=add_business_time(calendar, start, policy.first_reply),
        resolution_due=add_business_time(calendar, start, policy.resolution),
    )


def read_clock(due: datetime | None, done_at: datetime | None, now: datetime) -> ClockReading:
    """Where a clock stands at ``now`` given when it was due and when its work was done."""
    if due is None:
        return ClockReading("none", None)
    if done_at is not None:
        return ClockReading("met" if done_at <= due else "breached", due - done_at)
    remaining = due - now
    return ClockReading("running" if remaining >= timedelta(0) else "breached", remaining)
