from __future__ import annotations

from sqlalchemy import select

from helpdesk.db import db
from helpdesk.teams.models import Team


def all_teams() -> list[Team]:
    return list(db.session.scalars(select(Team).order_by(Team.name)))
