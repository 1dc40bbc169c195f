"""Notification jobs."""

from __future__ import annotations

from sqlalchemy import select, update

from helpdesk.auth.models import Agent
from helpdesk.db import db, utcnow
from helpdesk.notifications.models import Notification
from helpdesk.ports import OutgoingMail, outbound_mail
from helpdesk.urls import public_url

MAIL_BATCH = 1000


def mail_notifications() -> int:
    """Mail a copy of every notification not mailed yet to its agent (through the
    outbound-mail port, which queues the message in the same transaction) and stamp it.
    Answering the copy is the agent's public reply on the ticket (``reply_as_agent_id``).

    Idempotent: a stamped notification is never mailed again, and on PostgreSQL two runs skip
    each other's rows. Returns how many notifications were handled.
    """
    handled = 0
    mail = outbound_mail()
    while True:
        query = (select(Notification.id, Notification.ticket_id, Notification.text,
                        Notification.agent_id, Agent.email, Agent.active)
                 .join(Agent, Agent.id == Notification.agent_id)
                 .where(Notification.mailed_at.is_(None))
                 .order_by(Notification.id).limit(MAIL_BATCH))
        if db.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(of=Notification, skip_locked=True)
        rows = db.session.execute(query).all()
        for row in rows:
            if row.ticket_id is None or not row.active:
                continue  # nothing to link to, or nobody to tell: stamped all the same
            link = public_url("tickets.show", ticket_id=row.ticket_id)
            mail.send(OutgoingMail(ticket_id=row.ticket_id, to=row.email,
                                   subject=f"[#{row.ticket_id}] {row.text}",
                                   text=f"{row.text}\n\n{link}\n", automatic=True,
                                   reply_as_agent_id=row.agent_id))
        if rows:
            db.session.execute(update(Notification)
                               .where(Notification.id.in_([row.id for row in rows]))
                               .values(mailed_at=utcnow()))
        handled += len(rows)
        if len(rows) < MAIL_BATCH:
            return handled
