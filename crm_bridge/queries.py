"""CRM bridge reads."""

from __future__ import annotations

from sqlalchemy import select

from crm_bridge.models import CrmReviewItem
from helpdesk.db import db


def unresolved_review_items(*, before_id: int | None = None,
                            limit: int = 100) -> list[CrmReviewItem]:
    """Open review items, newest first; pass the last id seen as ``before_id`` for the next page."""
    query = select(CrmReviewItem).where(CrmReviewItem.resolved_at.is_(None))
    if before_id is not None:
        query = query.where(CrmReviewItem.id < before_id)
    return list(db.session.scalars(query.order_by(CrmReviewItem.id.desc()).limit(limit)))
