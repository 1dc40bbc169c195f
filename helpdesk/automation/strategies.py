"""Who gets the next ticket of a team (pure: no Flask, no SQLAlchemy).

Only agents who can take work now are candidates: status "online", on shift (their weekly
hours, when they have any) and below their capacity of open assigned tickets. Among those:

* ``round_robin``: the next agent after the last one served, by a stable order (agent id),
  so every available agent gets a turn however tickets arrive;
* ``least_loaded``: the agent with the fewest open tickets, ties broken round-robin;
* ``skills``: agents covering most of what the ticket needs (its tags and language against the
  agent's skills and languages), then least loaded; with no match at all, least loaded.

Every decision says why, for the ticket's history.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

STRATEGIES = ("round_robin", "least_loaded", "skills")


@dataclass(frozen=True, slots=True)
class Candidate:
    agent_id: int
    name: str
    status: str
    on_shift: bool
    load: int
    capacity: int | None
    #: Skills and languages, lower-cased.
    skills: frozenset[str] = frozenset()

    @property
    def unavailable_because(self) -> str | None:
        if self.status != "online":
            return self.status
        if not self.on_shift:
            return "off shift"
        if self.capacity is not None and self.load >= self.capacity:
            return "at capacity"
        return None


@dataclass(frozen=True, slots=True)
class Decision:
    agent_id: int | None
    reason: str


def ticket_language(text: str) -> str:
    """"zh" when the text has Han characters, else "en": enough to route to a speaker."""
    if any("CJK UNIFIED" in unicodedata.name(char, "") for char in text):
        return "zh"
    return "en"


def _rotation(candidates: Iterable[Candidate], last_agent_id: int | None) -> list[Candidate]:
    """Candidates in turn order: those after the last one served first, then the rest."""
    ordered = sorted(candidates, key=lambda candidate: candidate.agent_id)
    if last_agent_id is None:
        return ordered
    after = [candidate for candidate in ordered if candidate.agent_id > last_agent_id]
    return after + [candidate for candidate in ordered if candidate.agent_id <= last_agent_id]


def _least_loaded(turns: list[Candidate]) -> Candidate:
    # min() keeps the first of equals, and ``turns`` is in round-robin order.
    return min(turns, key=lambda candidate: candidate.load)


def choose_agent(strategy: str, candidates: Sequence[Candidate], *, needs: frozenset[str],
                 last_agent_id: int | None) -> Decision:
    """Pick an agent for one ticket, or nobody (with the reason) when no one is available."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}")
    skipped: dict[str, int] = {}
    available = []
    for candidate in candidates:
        reason = candidate.unavailable_because
        if reason is None:
            available.append(candidate)
        else:
            skipped[reason] = skipped.get(reason, 0) + 1
    summary = f"{len(available)} of {len(candidates)} agents available"
    if skipped:
        summary += " (" + ", ".join(f"{n} {why}" for why, n in sorted(skipped.items())) + ")"
    if not available:
        return Decision(None, f"{strategy}: nobody available, {summary}; left in the team queue")
    turns = _rotation(available, last_agent_id)
    if strategy == "round_robin":
        chosen, why = turns[0], "next in turn"
    elif strategy == "least_loaded":
        chosen = _least_loaded(turns)
        why = f"fewest open tickets ({chosen.load})"
    else:
        best = max(len(needs & candidate.skills) for candidate in turns)
        if best == 0:
            chosen = _least_loaded(turns)
            wanted = ", ".join(sorted(needs)) or "any needed skill"
            why = f"nobody has {wanted}; fewest open tickets"
        else:
            chosen = _least_loaded([c for c in turns if len(needs & c.skills) == best])
            why = (f"skills {', '.join(sorted(needs & chosen.skills))} "
                   f"({best} of {len(needs)} needed), {chosen.load} open tickets")
    return Decision(chosen.agent_id, f"{strategy}: {chosen.name}, {why}; {summary}")
