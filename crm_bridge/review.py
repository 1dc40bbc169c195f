"""Replaying the review list: records that did not map, tried again after an admin fixed the
mapping or the data in the CRM, so nothing that once failed needs a full re-import."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from crm_bridge.contract import RawChange
from crm_bridge.mapping import parse_mapping
from crm_bridge.models import CrmReviewItem
from crm_bridge.models import CrmSource as SourceRow
from crm_bridge.operations import record_unmapped, resolve_review_item
from crm_bridge.records import sort_records
from crm_bridge.sync import adapter_for
from helpdesk.customers.profiles import apply_profiles, soft_delete_external
from helpdesk.db import db

#: Items replayed by one request: one page of the source's API reads them again.
REPLAY_LIMIT = 200


def replayable_sources() -> dict[str, SourceRow]:
    """Configured sources by name: their items can be replayed (a one-off file import has no
    stored mapping to replay with)."""
    return {source.name: source for source in db.session.scalars(select(SourceRow))}


def unresolved_items_of(source: SourceRow, limit: int = REPLAY_LIMIT) -> list[CrmReviewItem]:
    return list(db.session.scalars(
        select(CrmReviewItem)
        .where(CrmReviewItem.source == source.name, CrmReviewItem.resolved_at.is_(None))
        .order_by(CrmReviewItem.id).limit(limit)))


def replay(source: SourceRow, items: Sequence[CrmReviewItem]) -> Counter[str]:
    """Map ``items`` again with the source's current mapping and apply those that map now.

    An item from the CRM's API is read again from the CRM first: the kept record may be
    stale, and what is applied must be what the CRM holds now (an item for a record the CRM
    no longer has leaves the list as "gone"). A file row is mapped from the kept record.
    Items that map leave the list as "replayed"; a fresh version that still fails replaces
    its item ("superseded"); the rest stay, with the new reason. Flushes only. Returns the
    count of each outcome ("replayed", "superseded", "gone", "failing").
    """
    mapping = parse_mapping(source.mapping)
    fresh: dict[str, RawChange] = {}
    external_ids = [item.external_id for item in items if item.external_id]
    if external_ids:
        fresh = {change.external_id: change
                 for change in adapter_for(source).fetch(external_ids)}
    outcomes: Counter[str] = Counter()
    records: list[tuple[int, str | None, Any, Any]] = []
    gone: list[str] = []
    by_id = {item.id: item for item in items if item.resolved_at is None}
    for item in by_id.values():
        change = fresh.get(item.external_id) if item.external_id else None
        if change is not None and change.op == "delete":
            gone.append(change.external_id)
            resolve_review_item(item, "gone")
            outcomes["gone"] += 1
        elif change is not None:
            records.append((item.id, change.external_id, change.updated_at, change.raw))
        else:
            records.append((item.id, item.external_id, None, item.raw_record))
    if gone:
        soft_delete_external(source.name, gone)
    result = sort_records(records, mapping, source.record_url_template)
    apply_profiles(source.name, result.profiles, helpdesk_owned=mapping.helpdesk_owned)
    for accepted in result.accepted:
        resolve_review_item(by_id[accepted.position], "replayed")
        outcomes["replayed"] += 1
    for rejected in result.rejected:
        item = by_id[rejected.position]
        reason = (f"{rejected.external_id}: {rejected.reason}" if rejected.external_id
                  else rejected.reason)
        if dict(rejected.raw) == item.raw_record:
            item.reason = reason
            outcomes["failing"] += 1
        else:
            record_unmapped(source.name, item.row_number, dict(rejected.raw), reason,
                            rejected.external_id)
            resolve_review_item(item, "superseded")
            outcomes["superseded"] += 1
    db.session.flush()
    return outcomes
