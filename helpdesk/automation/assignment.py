"""Automatic assignment: load a team's candidates, lock its turn pointer, choose, record why."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from helpdesk.actors import SYSTEM
from helpdesk.auth.models import Agent
from helpdesk.auth.schedule import ScheduleError, parse_schedule
from helpdesk.automation import loads  # noqa: F401 (keeps the AgentLoad counter)
from helpdesk.automation.models import AgentLoad, TeamAssignment
from helpdesk.automation.strategies import Candidate, Decision, choose_agent, ticket_language
from helpdesk.db import cached, db, utcnow
from helpdesk.teams.models import Team, team_membership
from helpdesk.tickets.history import record_event
from helpdesk.tickets.models import UNRESOLVED_STATUSES, Message, Ticket


def team_assignment(team_id: int, *, lock: bool = False) -> TeamAssignment:
    """The team's assignment settings, created with defaults on first use.

    ``lock=True`` holds the row until commit, so two transactions assigning tickets of one
    team take turns on the pointer: ``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite, which
    has no row locks, the create-if-missing insert runs first in any case, and any write
    takes the database's single write lock (a new ticket may not be written yet when its
    assignment is chosen, so no earlier write of this transaction can be relied on).
    """
    statement = select(TeamAssignment).where(TeamAssignment.team_id == team_id)
    if lock:
        statement = statement.with_for_update()
    statement = statement.execution_options(populate_existing=True)
    sqlite = db.engine.dialect.name != "postgresql"
    settings = None if lock and sqlite else db.session.scalars(statement).one_or_none()
    if settings is None:
        # Two first assignments may race to create the row: the loser's insert does nothing.
        insert = sqlite_insert if sqlite else postgresql_insert
        db.session.execute(insert(TeamAssignment).values(
            team_id=team_id, strategy="round_robin", auto_assign=False,
        ).on_conflict_do_nothing(index_elements=["team_id"]))
        settings = db.session.scalars(statement).one()
    return settings


def _on_shift(shift: str, now: datetime) -> bool:
    if not shift:
        return True
    try:
        return parse_schedule(shift).is_open(now)
    except ScheduleError:  # saved through the form, so only a hand-edited row gets here
        return False


def team_candidates(team_id: int, now: datetime) -> list[Candidate]:
    # Plain rows, not Agent objects; the load is the counter kept by ``loads``, not a count.
    agents = db.session.execute(
        select(Agent.id, Agent.name, Agent.status, Agent.shift, Agent.capacity, Agent.skills,
               Agent.languages, func.coalesce(AgentLoad.open_tickets, 0).label("load"))
        .join(team_membership, team_membership.c.agent_id == Agent.id)
        .outerjoin(AgentLoad, AgentLoad.agent_id == Agent.id)
        .where(team_membership.c.team_id == team_id, Agent.active)).all()
    return [Candidate(agent_id=agent.id, name=agent.name, status=agent.status,
                      on_shift=_on_shift(agent.shift, now), load=agent.load,
                      capacity=agent.capacity,
                      skills=frozenset(s.lower() for s in [*agent.skills, *agent.languages]))
            for agent in agents]


def ticket_needs(ticket: Ticket) -> frozenset[str]:
    """What a skilled agent should cover: the ticket's tags and its language."""
    language = ticket.custom_fields.get("language")
    if not language:
        if ticket.id is None:  # not written yet: its first message is the one in memory
            first = ticket.messages[0].body_text if ticket.messages else None
        else:
            first = db.session.scalar(select(Message.body_text)
                                      .where(Message.ticket_id == ticket.id)
                                      .order_by(Message.id).limit(1))
        language = ticket_language(ticket.subject + " " + (first or ""))
    return frozenset(tag.lower() for tag in [*ticket.tags, str(language)])


def assign_by_strategy(ticket: Ticket, strategy: str | None = None) -> Decision:
    """Assign ``ticket`` to an available agent of its team; record the decision and its reason.

    ``strategy`` overrides the team's own. With nobody available the ticket stays unassigned
    in the team queue (an agent coming online picks it up). Flushes, never commits.
    """
    decision = assign(ticket, strategy)
    db.session.flush()
    return decision


def assign(ticket: Ticket, strategy: str | None = None) -> Decision:
    """:func:`assign_by_strategy` without the flush, for a ticket that may not be written yet
    (routing a new ticket): its team is read from the relationship, which a rule may just
    have set."""
    team_id = ticket.team.id if ticket.team else None
    if team_id is None:
        decision = Decision(None, "no team, so nobody to assign")
    else:
        settings = team_assignment(team_id, lock=True)
        chosen = strategy or settings.strategy
        decision = choose_agent(chosen, team_candidates(team_id, utcnow()),
                                needs=ticket_needs(ticket) if chosen == "skills" else frozenset(),
                                last_agent_id=settings.last_agent_id)
        if decision.agent_id is not None:
            settings.last_agent_id = decision.agent_id
            ticket.assignee = db.session.get(Agent, decision.agent_id)
            ticket.updated_at = utcnow()
    record_event(ticket, SYSTEM, "assignment", None, decision.reason)
    return decision


def auto_assigns(team_id: int | None) -> bool:
    """Whether the team hands out its tickets without being asked by a rule."""
    return team_id is not None and cached(f"assignment.auto:{team_id}", lambda: bool(
        db.session.scalar(select(TeamAssignment.auto_assign)
                          .where(TeamAssignment.team_id == team_id))))


def assign_waiting_tickets(agent: Agent, limit: int = 100) -> int:
    """Assign the oldest unassigned open tickets of the agent's auto-assigning teams.

    Run when an agent comes online; each ticket goes through its team's strategy (so it may
    reach another available agent). Returns how many were assigned. Safe to run twice.
    """
    team_ids = list(db.session.scalars(
        select(TeamAssignment.team_id).where(
            TeamAssignment.auto_assign,
            TeamAssignment.team_id.in_([team.id for team in agent.teams]))))
    waiting = list(db.session.scalars(
        select(Ticket).where(Ticket.team_id.in_(team_ids), Ticket.assignee_id.is_(None),
                             Ticket.status.in_(UNRESOLVED_STATUSES))
        .order_by(Ticket.created_at, Ticket.id).limit(limit)))
    assigned = 0
    for ticket in waiting:
        if assign_by_strategy(ticket).agent_id is None:
            break  # everyone is full or away: the rest would fail the same way
        assigned += 1
    return assigned


def teams_with_settings() -> list[tuple[Team, TeamAssignment | None]]:
    rows = db.session.execute(
        select(Team, TeamAssignment).outerjoin(TeamAssignment,
                                               TeamAssignment.team_id == Team.id)
        .order_by(Team.name))
    return [(team, settings) for team, settings in rows]
