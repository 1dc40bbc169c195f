from __future__ import annotations

from sqlalchemy import func, select

from helpdesk.auth.models import Agent
from helpdesk.db import db


def agent_by_email(email: str) -> Agent | None:
    return db.session.scalar(select(Agent).where(func.lower(Agent.email) == email.strip().lower()))


def active_agents() -> list[Agent]:
    return list(db.session.scalars(select(Agent).where(Agent.active).order_by(Agent.name)))


def all_agents() -> list[Agent]:
    return list(db.session.scalars(select(Agent).order_by(Agent.name)))
