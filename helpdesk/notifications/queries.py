from __future__ import annotations

from sqlalchemy import func, select

from helpdesk.db import db
from helpdesk.notifications.models import Notification


def unread_count(agent_id: int) -> int:
    return db.session.scalar(select(func.count()).where(
        Notification.agent_id == agent_id, Notification.read_at.is_(None))) or 0


def recent_notifications(agent_id: int, limit: int = 100) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(
        Notification.agent_id == agent_id).order_by(Notification.id.desc()).limit(limit)))
