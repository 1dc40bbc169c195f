"""Agent writes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from helpdesk import jobs
from helpdesk.auth.models import AVAILABILITY, Agent, Role
from helpdesk.auth.schedule import parse_schedule
from helpdesk.db import db, utcnow
from helpdesk.teams.models import Team

MIN_PASSWORD_LENGTH = 10


class AgentEmailTaken(ValueError):
    pass


class WeakPassword(ValueError):
    pass


def create_agent(*, email: str, name: str, password: str, role: Role = "agent",
                 teams: Sequence[Team] = ()) -> Agent:
    """Create an agent with a hashed password. Emails are unique, case-insensitively."""
    email = email.strip().lower()
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")
    if db.session.scalar(select(Agent).where(func.lower(Agent.email) == email)) is not None:
        raise AgentEmailTaken(email)
    agent = Agent(email=email, name=name.strip(), role=role, active=True)
    agent.set_password(password)
    agent.teams = list(teams)
    db.session.add(agent)
    db.session.flush()
    return agent


def set_agent_teams(agent: Agent, teams: Sequence[Team]) -> None:
    agent.teams = list(teams)
    db.session.flush()


def set_agent_status(agent: Agent, status: str) -> None:
    """Set an agent's availability; coming online queues the pick-up of waiting tickets."""
    if status not in AVAILABILITY:
        raise ValueError(f"unknown status {status!r}")
    if status == agent.status:
        return
    agent.status = status
    agent.status_changed_at = utcnow()
    db.session.flush()
    if status == "online":
        jobs.enqueue("helpdesk.automation.tasks.pick_up_waiting_tickets", agent.id)


def set_agent_availability(agent: Agent, *, capacity: int | None, skills: Sequence[str],
                           languages: Sequence[str], shift: str) -> None:
    """Admins' part of availability. ``shift`` must parse (or be empty: no shift limits)."""
    if shift.strip():
        parse_schedule(shift)
    agent.capacity = capacity
    agent.skills = sorted({skill.strip().lower() for skill in skills if skill.strip()})
    agent.languages = sorted({language.strip().lower() for language in languages
                              if language.strip()})
    agent.shift = shift.strip()
    db.session.flush()
