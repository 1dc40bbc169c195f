"""Notification writes. Rows are added in bulk (the SLA sweep may raise thousands at once);
the mail copies go out in one job after commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import insert, update

from helpdesk.db import db, utcnow
from helpdesk.jobs import enqueue
from helpdesk.notifications.models import Notification


@dataclass(frozen=True, slots=True)
class NewNotification:
    agent_id: int
    ticket_id: int | None
    kind: str
    text: str


def notify_agents(items: Sequence[NewNotification]) -> None:
    """Add the notifications and queue the job that mails every copy not mailed yet
    (``mail_notifications``). One multi-row insert: no ids come back, the job finds its rows
    by ``mailed_at``."""
    if not items:
        return
    now = utcnow()
    db.session.execute(insert(Notification), [
        {"agent_id": item.agent_id, "ticket_id": item.ticket_id, "kind": item.kind,
         "text": item.text[:500], "created_at": now} for item in items])
    enqueue("helpdesk.notifications.tasks.mail_notifications", queue="outbound")


def mark_read(agent_id: int, notification_ids: Sequence[int] | None = None) -> None:
    """Mark the agent's notifications read (all of them when no ids are given)."""
    statement = update(Notification).where(Notification.agent_id == agent_id,
                                           Notification.read_at.is_(None))
    if notification_ids is not None:
        statement = statement.where(Notification.id.in_(notification_ids))
    db.session.execute(statement.values(read_at=utcnow()))
