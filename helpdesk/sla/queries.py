from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from helpdesk.db import db
from helpdesk.sla.models import SlaPolicy
from helpdesk.sla.policy import PolicyTargets


def policy_targets() -> list[PolicyTargets]:
    rows = db.session.scalars(select(SlaPolicy).order_by(SlaPolicy.id))
    return [
        PolicyTargets(name=row.name, priority=row.priority,
                      first_reply=timedelta(minutes=row.first_reply_minutes),
                      resolution=timedelta(minutes=row.resolution_minutes))
        for row in rows
    ]
