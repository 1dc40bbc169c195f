"""CRM bridge reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from crm_bridge.models import CrmPushOutbox, CrmReviewItem, CrmSource, CrmSyncRun
from helpdesk.customers.models import ProfileConflict
from helpdesk.db import db


def unresolved_review_items(*, before_id: int | None = None,
                            limit: int = 100) -> list[CrmReviewItem]:
    """Open review items, newest first; pass the last id seen as ``before_id`` for the next page."""
    query = select(CrmReviewItem).where(CrmReviewItem.resolved_at.is_(None))
    if before_id is not None:
        query = query.where(CrmReviewItem.id < before_id)
    return list(db.session.scalars(query.order_by(CrmReviewItem.id.desc()).limit(limit)))


@dataclass(frozen=True, slots=True)
class SourceStatus:
    source: CrmSource
    last_run: CrmSyncRun | None
    review: int
    conflicts: int

    def lag_seconds(self, now: datetime) -> float | None:
        """How old the newest successfully synced data may be."""
        last = self.source.last_success_at
        return (now - last).total_seconds() if last else None


def source_statuses() -> list[SourceStatus]:
    """Every source with its latest run and open review/conflict counts (four queries)."""
    sources = list(db.session.scalars(select(CrmSource).order_by(CrmSource.name)))
    latest = select(func.max(CrmSyncRun.id)).group_by(CrmSyncRun.source_id)
    runs = {run.source_id: run for run in db.session.scalars(
        select(CrmSyncRun).where(CrmSyncRun.id.in_(latest)))}
    review = {source: count for source, count in db.session.execute(
        select(CrmReviewItem.source, func.count()).where(CrmReviewItem.resolved_at.is_(None))
        .group_by(CrmReviewItem.source))}
    conflicts = {source: count for source, count in db.session.execute(
        select(ProfileConflict.source, func.count()).where(ProfileConflict.resolved_at.is_(None))
        .group_by(ProfileConflict.source))}
    return [SourceStatus(s, runs.get(s.id), review.get(s.name, 0), conflicts.get(s.name, 0))
            for s in sources]


def recent_runs(source: CrmSource, limit: int = 20) -> list[CrmSyncRun]:
    return list(db.session.scalars(select(CrmSyncRun).where(CrmSyncRun.source_id == source.id)
                                   .order_by(CrmSyncRun.id.desc()).limit(limit)))


def failed_pushes(source_id: int | None = None, *, limit: int = 100) -> list[CrmPushOutbox]:
    """Service events a CRM never accepted, newest first (for the source admin page)."""
    query = select(CrmPushOutbox).where(CrmPushOutbox.status == "failed")
    if source_id is not None:
        query = query.where(CrmPushOutbox.source_id == source_id)
    return list(db.session.scalars(query.order_by(CrmPushOutbox.id.desc()).limit(limit)))
