"""Routing writes: apply the rules to a ticket, and edit the rules.

:func:`route_ticket` runs inside the transaction of the ticket change that triggered it. It
sets fields directly (not through ``update_ticket``), so a rule's actions never trigger
routing again; each applied rule is written to the ticket's history with the conditions that
matched.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from helpdesk.actors import SYSTEM
from helpdesk.auth.queries import agent_by_email
from helpdesk.automation.assignment import assign, auto_assigns
from helpdesk.automation.models import RoutingRule
from helpdesk.db import cached, db, utcnow
from helpdesk.sla.queries import open_calendars
from helpdesk.teams.models import Team
from helpdesk.tickets.history import record_event
from helpdesk.tickets.models import Message, Ticket
from helpdesk.tickets.routing import (
    ASSIGN_BY_STRATEGY,
    Action,
    Rule,
    TicketFacts,
    evaluate,
    parse_action,
    parse_condition,
)


def rule_from_row(row: RoutingRule) -> Rule:
    events = {event for event, on in (("created", row.on_created), ("updated", row.on_updated))
              if on}
    return Rule(id=row.id, name=row.name, events=frozenset(events),
                conditions=tuple(map(parse_condition, row.conditions)),
                actions=tuple(map(parse_action, row.actions)))


def enabled_rules() -> list[Rule]:
    """The enabled rules in order (read once per batch, see :func:`helpdesk.db.batch_cache`)."""
    def load() -> list[Rule]:
        rows = db.session.scalars(
            select(RoutingRule).where(RoutingRule.enabled)
            .order_by(RoutingRule.position, RoutingRule.id))
        return [rule_from_row(row) for row in rows]
    return cached("routing.enabled_rules", load)


def ticket_facts(ticket: Ticket, body: str | None = None) -> TicketFacts:
    """What rules see: the ticket, its customer's CRM profile and the latest customer text
    (``body`` when the caller has it at hand; read from the ticket otherwise)."""
    if body is None:
        body = db.session.scalar(
            select(Message.body_text).where(Message.ticket_id == ticket.id,
                                            Message.kind == "customer")
            .order_by(Message.id.desc()).limit(1)) or ""
    customer = ticket.customer
    now = utcnow()
    return TicketFacts(
        channel=ticket.channel, origin=ticket.origin or "", sender_email=customer.email,
        subject=ticket.subject, body=body, priority=ticket.priority,
        team=ticket.team.name if ticket.team else "", tier=customer.tier or "",
        company=customer.company or "", customer_tags=tuple(customer.tags or ()),
        ticket_tags=tuple(ticket.tags or ()), open_calendars=open_calendars(now), now=now)


def route_ticket(ticket: Ticket, event: str, changed_by_actor: Sequence[str] = (),
                 body: str | None = None) -> list[str]:
    """Apply the enabled rules for ``event`` ("created" or "updated") to ``ticket``.

    Returns the names of the fields the rules changed. A new ticket, or one that just moved to
    a team that auto-assigns, is then assigned if still unassigned; a ticket an agent
    unassigns in place stays unassigned. ``body``: the latest customer text, when the caller
    has it (spares reading it back). Writes nothing itself: works on a ticket not yet written
    too, and the caller's flush writes the changes with the rest of its work.
    """
    changed: list[str] = []
    rules = [rule for rule in enabled_rules() if event in rule.events]
    if rules:
        if body is None and not _reads_body(rules):
            body = ""
        for match in evaluate(rules, ticket_facts(ticket, body), event):
            rule_changed = [field for action in match.rule.actions
                            for field in _apply(action, ticket)]
            if rule_changed:
                record_event(ticket, SYSTEM, "routing", match.rule.name, match.explanation)
                changed.extend(rule_changed)
    arrived = event == "created" or "team" in changed or "team" in changed_by_actor
    team_id = ticket.team.id if ticket.team else None  # the rules may just have set it
    if (arrived and ticket.assignee is None and auto_assigns(team_id)
            and assign(ticket).agent_id is not None):
        changed.append("assignee")
    if changed:
        ticket.updated_at = utcnow()
    return sorted(set(changed))


def _reads_body(rules: Sequence[Rule]) -> bool:
    return any(condition.field == "keyword" for rule in rules for condition in rule.conditions)


def _apply(action: Action, ticket: Ticket) -> list[str]:
    """Apply one action; the fields it really changed (an action may find nothing to do)."""
    if action.kind == "priority" and ticket.priority != action.value:
        ticket.priority = action.value
        return ["priority"]
    if action.kind == "team":
        team_id = cached(f"routing.team:{action.value}", lambda: db.session.scalar(
            select(Team.id).where(Team.name == action.value)))
        team = db.session.get(Team, team_id) if team_id is not None else None
        if team is not None and ticket.team is not team:
            ticket.team = team
            return ["team"]
    if action.kind in ("add_tags", "remove_tags"):
        tags = list(ticket.tags or ())
        if action.kind == "add_tags":
            new = tags + [tag for tag in action.values if tag not in tags]
        else:
            new = [tag for tag in tags if tag not in action.values]
        if new != tags:
            ticket.tags = new  # a new list, so the JSON column sees the change
            return ["tags"]
    if action.kind == "assign":
        if action.value == ASSIGN_BY_STRATEGY:
            return ["assignee"] if assign(ticket).agent_id is not None else []
        agent = agent_by_email(action.value)
        if agent is not None and agent.active and ticket.assignee_id != agent.id:
            ticket.assignee = agent
            return ["assignee"]
    return []


def save_rule(rule: RoutingRule | None, *, name: str, enabled: bool, on_created: bool,
              on_updated: bool, conditions: list[str], actions: list[str]) -> RoutingRule:
    """Create (``rule=None``, placed last) or update a rule. Lines must already parse."""
    if rule is None:
        last = db.session.scalar(select(func.max(RoutingRule.position)))
        rule = RoutingRule(position=(last or 0) + 1)
        db.session.add(rule)
    rule.name = name.strip()
    rule.enabled = enabled
    rule.on_created = on_created
    rule.on_updated = on_updated
    rule.conditions = conditions
    rule.actions = actions
    rule.updated_at = utcnow()
    db.session.flush()
    return rule


def move_rule(rule: RoutingRule, offset: int) -> None:
    """Swap the rule with its neighbour ``offset`` places up (-1) or down (+1)."""
    ordered = list(db.session.scalars(
        select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id)))
    index = ordered.index(rule)
    other = index + offset
    if 0 <= other < len(ordered):
        ordered[index], ordered[other] = ordered[other], ordered[index]
    for position, row in enumerate(ordered, start=1):
        row.position = position
    db.session.flush()
