"""Team writes."""

from __future__ import annotations

from sqlalchemy import select

from helpdesk.db import db
from helpdesk.teams.models import Team


class TeamNameTaken(ValueError):
    pass


def create_team(name: str) -> Team:
    """Create a team; the name must be unique (case-sensitive, trimmed)."""
    name = name.strip()
    if db.session.scalar(select(Team).where(Team.name == name)) is not None:
        raise TeamNameTaken(name)
    team = Team(name=name)
    db.session.add(team)
    db.session.flush()
    return team
