"""Agent writes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from helpdesk.auth.models import Agent, Role
from helpdesk.db import db
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
