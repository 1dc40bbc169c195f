"""Routing rules: which rules apply to a ticket and why (pure: no Flask, no SQLAlchemy).

A rule is event-condition-action: it runs when a ticket is created and/or updated, matches when
*all* its conditions hold, and then applies its actions in order. Rules are evaluated in their
admin-given order, each at most once per event; a later rule sees what earlier rules changed
(a rule that raises priority can feed one that tags urgent tickets). A "stop" action ends the
pass. Every match carries the sentence that explains it, for the ticket's history.

Admins write conditions and actions one per line, so a rule reads back as it is meant::

    channel email                   sender_domain acme.com, acme.cn
    keyword refund, 退款             tier not VIP
    business_hours not Asia/Shanghai; mon-fri 09:00-18:00
    calendar not China support      (a business calendar: holidays and 调休 included)

    team Billing                    priority high
    add_tags refund                 assign strategy
    stop

Keywords match as substrings of the case-folded, NFKC-normalised text: Chinese has no word
boundaries, Latin letters ignore case, and full-width letters match their ASCII forms.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from helpdesk.auth.schedule import ScheduleError, WeeklySchedule, parse_schedule

EVENTS = ("created", "updated")
PRIORITIES = ("low", "normal", "high", "urgent")

CONDITION_FIELDS = (
    "channel", "origin", "team", "sender_domain", "subject_keyword", "keyword", "tier",
    "customer_tag", "company", "ticket_tag", "priority", "calendar", "business_hours",
)
#: Actions and whether they take a value. "assign" takes an agent's email or "strategy".
ACTION_KINDS = {"team": True, "priority": True, "add_tags": True, "remove_tags": True,
                "assign": True, "stop": False}
ASSIGN_BY_STRATEGY = "strategy"


class RuleSyntaxError(ValueError):
    """A condition or action line that cannot be read; the message names the line."""


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    values: tuple[str, ...]
    negate: bool = False
    #: Parsed once when the rule is read (business hours only).
    schedule: WeeklySchedule | None = None
    #: ``values`` case-folded once, for matching.
    folded: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.field} {'not ' if self.negate else ''}{', '.join(self.values)}"


@dataclass(frozen=True, slots=True)
class Action:
    kind: str
    value: str = ""

    @property
    def values(self) -> tuple[str, ...]:
        return _split_values(self.value)

    def __str__(self) -> str:
        return f"{self.kind} {self.value}".strip()


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    name: str
    events: frozenset[str]
    conditions: tuple[Condition, ...]
    actions: tuple[Action, ...]


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """What rules can look at; built from the ticket and its customer by the caller."""

    channel: str
    origin: str
    sender_email: str
    subject: str
    body: str
    priority: str
    team: str
    tier: str = ""
    company: str = ""
    customer_tags: tuple[str, ...] = ()
    ticket_tags: tuple[str, ...] = ()
    #: Names of the business calendars (holidays and make-up workdays included) open now.
    open_calendars: tuple[str, ...] = ()
    now: datetime | None = None


@dataclass(frozen=True, slots=True)
class ConditionCheck:
    condition: Condition
    matched: bool
    #: Why it matched or not, e.g. "subject contains '退款'".
    detail: str


@dataclass(frozen=True, slots=True)
class RuleMatch:
    rule: Rule
    checks: tuple[ConditionCheck, ...]

    @property
    def explanation(self) -> str:
        reasons = "; ".join(check.detail for check in self.checks) or "no conditions"
        actions = ", ".join(str(action) for action in self.rule.actions)
        return f"matched: {reasons} → {actions}"


# -- reading rules ---------------------------------------------------------------------------

def _split_values(raw: str) -> tuple[str, ...]:
    return tuple(value.strip() for value in raw.replace("，", ",").split(",") if value.strip())


def parse_condition(line: str) -> Condition:
    field, _, rest = line.strip().partition(" ")
    field = field.lower()
    if field not in CONDITION_FIELDS:
        raise RuleSyntaxError(f"{line!r}: unknown condition {field!r} "
                              f"(one of {', '.join(CONDITION_FIELDS)})")
    rest = rest.strip()
    negate = rest.lower().startswith("not ")
    if negate:
        rest = rest[4:].strip()
    if field == "business_hours":
        try:
            schedule = parse_schedule(rest)
        except ScheduleError as error:
            raise RuleSyntaxError(f"{line!r}: {error}") from error
        return Condition(field, (schedule.text,), negate, schedule)
    values = _split_values(rest)
    if not values:
        raise RuleSyntaxError(f"{line!r}: no value to compare with")
    if field == "priority" and not set(values) <= set(PRIORITIES):
        raise RuleSyntaxError(f"{line!r}: priorities are {', '.join(PRIORITIES)}")
    return Condition(field, values, negate, folded=tuple(map(_fold, values)))


def parse_action(line: str) -> Action:
    kind, _, value = line.strip().partition(" ")
    kind, value = kind.lower(), value.strip()
    if kind not in ACTION_KINDS:
        raise RuleSyntaxError(f"{line!r}: unknown action {kind!r} "
                              f"(one of {', '.join(ACTION_KINDS)})")
    if ACTION_KINDS[kind] and not value:
        raise RuleSyntaxError(f"{line!r}: {kind} needs a value")
    if kind == "priority" and value not in PRIORITIES:
        raise RuleSyntaxError(f"{line!r}: priorities are {', '.join(PRIORITIES)}")
    return Action(kind, value)


def parse_lines(text: str, parse: Callable[[str], object]) -> list[str]:
    """The non-empty lines of ``text``, each checked with ``parse`` (raises on the first bad)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        parse(line)
    return lines


# -- evaluating ------------------------------------------------------------------------------

def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


@dataclass(frozen=True, slots=True)
class _Texts:
    """Subject and body case-folded once per evaluation, not once per keyword condition."""

    subject: str
    body: str

    @classmethod
    def of(cls, facts: TicketFacts) -> _Texts:
        return cls(_fold(facts.subject), _fold(facts.body))


def _first_found(condition: Condition, folded_text: str) -> str | None:
    return next((value for value, folded in zip(condition.values, condition.folded, strict=True)
                 if folded in folded_text), None)


def _check(condition: Condition, facts: TicketFacts, texts: _Texts) -> ConditionCheck:
    field, values = condition.field, condition.values
    wanted = set(condition.folded)
    found: str | None
    if field in ("channel", "origin", "team", "tier", "company", "priority"):
        actual = str(getattr(facts, field))
        found = actual if _fold(actual) in wanted else None
        detail = f"{field} is {actual or '(none)'}"
    elif field == "sender_domain":
        domain = _fold(facts.sender_email.rpartition("@")[2])
        found = next((value for value, folded in zip(values, condition.folded, strict=True)
                      if domain == folded or domain.endswith("." + folded)), None)
        detail = f"sender domain is {domain or '(none)'}"
    elif field == "calendar":
        found = next((name for name in facts.open_calendars if _fold(name) in wanted), None)
        detail = (f"calendar {found} is open" if found
                  else f"calendar {', '.join(values)} is closed")
    elif field in ("customer_tag", "ticket_tag"):
        tags = facts.customer_tags if field == "customer_tag" else facts.ticket_tags
        found = next((tag for tag in tags if _fold(tag) in wanted), None)
        detail = f"{field.replace('_', ' ')}s are {', '.join(tags) or '(none)'}"
    elif field == "subject_keyword":
        found = _first_found(condition, texts.subject)
        detail = f"subject contains {found!r}" if found else "subject has none of the keywords"
    elif field == "keyword":
        found = _first_found(condition, texts.subject)
        where = "subject"
        if found is None:
            found, where = _first_found(condition, texts.body), "message"
        detail = f"{where} contains {found!r}" if found else "no keyword in subject or message"
    else:  # business_hours
        assert condition.schedule is not None and facts.now is not None
        is_open = condition.schedule.is_open(facts.now)
        found = "open" if is_open else None
        detail = ("inside" if is_open else "outside") + f" business hours ({values[0]})"
    matched = (found is not None) != condition.negate
    return ConditionCheck(condition, matched, ("not: " if condition.negate else "") + detail)


def check_rule(rule: Rule, facts: TicketFacts) -> tuple[ConditionCheck, ...]:
    """Every condition of ``rule`` checked against ``facts`` (for the admin's test page)."""
    texts = _Texts.of(facts)
    return tuple(_check(condition, facts, texts) for condition in rule.conditions)


def _after(action: Action, facts: TicketFacts) -> TicketFacts:
    """The facts later rules see once ``action`` has been applied."""
    if action.kind == "priority":
        return dataclasses.replace(facts, priority=action.value)
    if action.kind == "team":
        return dataclasses.replace(facts, team=action.value)
    if action.kind == "add_tags":
        added = [tag for tag in action.values if tag not in facts.ticket_tags]
        return dataclasses.replace(facts, ticket_tags=(*facts.ticket_tags, *added))
    if action.kind == "remove_tags":
        return dataclasses.replace(facts, ticket_tags=tuple(
            tag for tag in facts.ticket_tags if tag not in action.values))
    return facts


def _matching_checks(rule: Rule, facts: TicketFacts,
                     texts: _Texts) -> tuple[ConditionCheck, ...] | None:
    """The checks of a matching rule; None at the first miss (only matches are explained)."""
    checks = []
    for condition in rule.conditions:
        check = _check(condition, facts, texts)
        if not check.matched:
            return None
        checks.append(check)
    return tuple(checks)


def evaluate(rules: Sequence[Rule], facts: TicketFacts, event: str) -> list[RuleMatch]:
    """The rules that apply, in order, each with the checks that made it match.

    A rule runs at most once per event, so its own actions never trigger it again.
    """
    matches: list[RuleMatch] = []
    texts = _Texts.of(facts)  # actions never change subject or body
    for rule in rules:
        if event not in rule.events:
            continue
        checks = _matching_checks(rule, facts, texts)
        if checks is None:
            continue
        matches.append(RuleMatch(rule, checks))
        for action in rule.actions:
            facts = _after(action, facts)
        if any(action.kind == "stop" for action in rule.actions):
            break
    return matches
