"""CRM bridge writes: sources, and the review list of records that did not map."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select

from crm_bridge.models import CrmReviewItem, CrmSource
from helpdesk.db import db, utcnow


def record_unmapped(source: str, row_number: int, raw_record: Any, reason: str,
                    external_id: str | None = None) -> CrmReviewItem:
    """Put a record that did not map on the review list, keeping the raw record for replay.

    Idempotent per record: if the same raw record from the same source is already listed and
    unresolved, that item is refreshed (row number, reason) instead of listed again.
    """
    record_hash = hashlib.sha256(
        json.dumps(raw_record, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    item = db.session.scalar(select(CrmReviewItem).where(
        CrmReviewItem.source == source, CrmReviewItem.record_hash == record_hash,
        CrmReviewItem.resolved_at.is_(None)))
    if item is None:
        item = CrmReviewItem(source=source, record_hash=record_hash, raw_record=raw_record,
                             row_number=row_number, reason=reason, external_id=external_id)
        db.session.add(item)
    else:
        item.row_number = row_number
        item.reason = reason
    db.session.flush()
    return item


def resolve_review_item(item: CrmReviewItem, resolution: str = "resolved") -> None:
    """Take an item off the review list (it was fixed at the source, or replayed). Idempotent."""
    if item.resolved_at is None:
        item.resolved_at, item.resolution = utcnow(), resolution
        db.session.flush()


def save_source(source: CrmSource | None, *, name: str, kind: str, settings: dict[str, Any],
                secrets: dict[str, Any] | None, record_url_template: str | None,
                schedule_minutes: int, sweep_hours: int, enabled: bool) -> CrmSource:
    """Create or update a source. ``secrets=None`` keeps the stored secrets (the form never
    shows them). Saving clears a failing flag: the admin changed what was wrong."""
    if source is None:
        source = CrmSource(name=name, kind=kind, mapping={}, secrets={})
        db.session.add(source)
    source.name, source.kind, source.settings = name, kind, settings
    if secrets is not None:
        source.secrets = secrets
    source.record_url_template = record_url_template
    source.schedule_minutes, source.sweep_hours, source.enabled = (schedule_minutes, sweep_hours,
                                                                   enabled)
    source.status, source.last_error = "ok", None
    db.session.flush()
    return source
