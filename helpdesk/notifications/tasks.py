"""Notification jobs."""

from __future__ import annotations

from sqlalchemy import select

from helpdesk.auth.models import Agent
from helpdesk.db import db
from helpdesk.notifications.models import Notification
from helpdesk.ports import OutgoingMail, outbound_mail
from helpdesk.urls import public_url


def mail_notifications(notification_ids: list[int]) -> None:
    """Mail a copy of each notification to its agent through the outbound-mail port.

    Not idempotent by itself: run once per batch, queued after the batch committed.
    """
    rows = db.session.execute(
        select(Notification, Agent.email).join(Agent, Agent.id == Notification.agent_id)
        .where(Notification.id.in_(notification_ids), Agent.active.is_(True)))
    mail = outbound_mail()
    for notification, email in rows:
        if notification.ticket_id is None:
            continue
        link = public_url("tickets.show", ticket_id=notification.ticket_id)
        mail.send(OutgoingMail(ticket_id=notification.ticket_id, to=email,
                               subject=f"[#{notification.ticket_id}] {notification.text}",
                               text=f"{notification.text}\n\n{link}\n", automatic=True))
