"""The sync loop: pull changes from a source, map them, apply them, remember where we were.

Every page is one transaction: the profiles it changes and the watermark after it are
committed together, so a crash loses nothing and repeats at most one page, which the
idempotent apply absorbs (a change not newer than what we hold for its external id is
skipped). Jobs run on the "crm" queue, so a slow or failing CRM never delays email.

Errors are handled by kind (``crm_bridge.contract``):

* ``RateLimited`` "burst": sleep the vendor's wait (bounded) and resume from the last page;
* ``RateLimited`` "daily": stop and queue the job again for when the quota resets;
* ``TransientError``: stop and queue the job again with exponential backoff and jitter;
* ``AuthFailed``, ``PermanentError`` or a broken mapping: stop and flag the source as
  failing until an admin fixes it -- retrying cannot help.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from crm_bridge.adapters import ADAPTERS
from crm_bridge.adapters.base import DEFAULT_TIMEOUT_SECONDS
from crm_bridge.contract import (
    AuthFailed,
    CrmSource,
    DeleteSignal,
    PermanentError,
    RateLimited,
    RawChange,
    TransientError,
    Watermark,
)
from crm_bridge.locks import SourceBusy, hold_source
from crm_bridge.mapping import FieldMapping, InvalidMapping, parse_mapping
from crm_bridge.models import CrmSource as SourceRow
from crm_bridge.models import CrmSyncRun, CrmWatermark
from crm_bridge.operations import record_unmapped
from crm_bridge.records import sort_records
from helpdesk.customers.profiles import (
    ApplyResult,
    apply_profiles,
    external_ids_missing_from,
    soft_delete_external,
)
from helpdesk.db import db, utcnow
from helpdesk.jobs import enqueue
from helpdesk.outbound_http import guarded_client

log = logging.getLogger(__name__)

QUEUE = "crm"
#: Longest wait a burst limit may impose inside a job; longer waits reschedule instead.
MAX_BURST_SLEEP_SECONDS = 60.0
MAX_BURSTS_PER_RUN = 10
#: Transient failures: retry after about 30 s, 1, 2, 4, 8 min (full jitter), then give up.
TRANSIENT_RETRIES = 5
BACKOFF_BASE_SECONDS = 30.0
BACKOFF_CAP_SECONDS = 15 * 60.0


def backoff_delay(attempt: int, *, base: float = BACKOFF_BASE_SECONDS,
                  cap: float = BACKOFF_CAP_SECONDS, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": between half and all of ``base * 2**attempt``.

    The jitter spreads retries of many sources that failed together (one CRM outage); the
    lower half-bound keeps a retry from coming back almost at once.
    """
    ceiling = min(cap, base * 2 ** attempt)
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


@dataclass(slots=True)
class Totals:
    """Running counts of one sync; ``review`` counts records put on the review list."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    conflicts: int = 0
    review: int = 0
    pages: int = 0
    status: str = "running"
    error: str | None = None
    retry_in: float | None = None
    review_reasons: list[str] = field(default_factory=list)

    @property
    def records(self) -> int:
        return self.created + self.updated + self.unchanged + self.deleted + self.review

    def add(self, result: ApplyResult) -> None:
        self.created += result.created
        self.updated += result.updated
        self.unchanged += result.unchanged
        self.conflicts += result.conflicts


def adapter_for(source: SourceRow) -> CrmSource:
    """The source's adapter, configured with its settings and (only here) its secrets."""
    try:
        factory = ADAPTERS[source.kind]
    except KeyError:
        raise PermanentError(f"unknown source kind {source.kind!r}") from None
    config = {**(source.settings or {}), **(source.secrets or {})}
    # Admin-entered endpoints: never into our own network (helpdesk/outbound_http.py).
    client = guarded_client(current_app.config,
                            float(config.get("timeout", DEFAULT_TIMEOUT_SECONDS)))
    adapter: CrmSource = factory(config, client)
    return adapter


def apply_changes(source: SourceRow, mapping: FieldMapping,
                  changes: Sequence[RawChange]) -> Totals:
    """Apply one page of changes: deletes soft-delete, upserts map then apply; flushes only.

    A record that does not map goes to the review list with the reason and changes nothing.
    """
    totals = Totals()
    deletes = [c.external_id for c in changes if c.op == "delete"]
    if deletes:
        totals.deleted = soft_delete_external(source.name, deletes)
    upserts = [c for c in changes if c.op == "upsert"]
    sorted_records = sort_records(
        [(n, c.external_id, c.updated_at, c.raw) for n, c in enumerate(upserts, start=1)],
        mapping, source.record_url_template)
    for rejected in sorted_records.rejected:
        reason = f"{rejected.external_id}: {rejected.reason}"
        record_unmapped(source.name, rejected.position, dict(rejected.raw), reason,
                        rejected.external_id)
        totals.review += 1
        totals.review_reasons.append(reason)
    totals.add(apply_profiles(source.name, sorted_records.profiles,
                              helpdesk_owned=mapping.helpdesk_owned))
    return totals


def stored_watermark(source_id: int, object_type: str = "customer") -> Watermark | None:
    row = db.session.scalar(select(CrmWatermark).where(
        CrmWatermark.source_id == source_id, CrmWatermark.object_type == object_type))
    return Watermark.from_json(row.value) if row else None


def _save_watermark(source_id: int, watermark: Watermark, object_type: str = "customer") -> None:
    row = db.session.scalar(select(CrmWatermark).where(
        CrmWatermark.source_id == source_id, CrmWatermark.object_type == object_type))
    if row is None:
        row = CrmWatermark(source_id=source_id, object_type=object_type, value={})
        db.session.add(row)
    row.value = watermark.to_json()
    row.updated_at = utcnow()


def _merge_into(total: Totals, page: Totals) -> None:
    for name in ("created", "updated", "unchanged", "deleted", "conflicts", "review"):
        setattr(total, name, getattr(total, name) + getattr(page, name))
    total.review_reasons.extend(page.review_reasons)


def run_sync(source_id: int, *, full: bool = False, dry_run: bool = False, attempt: int = 0,
             sleep: Callable[[float], None] = time.sleep) -> Iterator[Totals]:
    """Sync one source, yielding the running totals after every page (the last is final).

    ``full`` starts from no watermark and ends with a mark-and-sweep of deleted records for
    sources without a delete signal. ``dry_run`` applies each page and rolls it back: the
    totals say what would change, nothing is written (not even the run record).
    """
    totals = Totals()
    source = db.session.get(SourceRow, source_id)
    if source is None:
        raise LookupError(f"no CRM source {source_id}")
    if dry_run:
        yield from _pull_pages(source_id, totals, full=full, dry_run=True, sleep=sleep)
        db.session.rollback()
        return
    run = CrmSyncRun(source_id=source_id, mode="full" if full else "incremental")
    db.session.add(run)
    db.session.commit()
    run_id = run.id
    try:
        with hold_source(source_id) as hold:
            for _ in _pull_pages(source_id, totals, full=full, dry_run=False, sleep=sleep,
                                 renew=hold.renew, run_id=run_id):
                yield totals
            if totals.status == "running" and full:
                _sweep(source_id, totals)
    except SourceBusy:
        totals.status, totals.error = "skipped", "another sync of this source is running"
    except (AuthFailed, PermanentError, InvalidMapping) as error:
        totals.status, totals.error = "failed", f"{type(error).__name__}: {error}"
    except TransientError as error:
        totals.error = f"TransientError: {error}"
        if attempt < TRANSIENT_RETRIES:
            totals.status, totals.retry_in = "retrying", backoff_delay(attempt)
        else:
            totals.status = "failed"
    except RateLimited as error:  # daily quota, or bursts beyond what one run may wait
        totals.status, totals.error = "rate_limited", str(error)
        totals.retry_in = error.retry_after_s
    if totals.status == "running":
        totals.status = "ok"
    _finish(source_id, run_id, totals)
    yield totals


def _pull_pages(source_id: int, totals: Totals, *, full: bool, dry_run: bool,
                sleep: Callable[[float], None], renew: Callable[[], None] | None = None,
                run_id: int | None = None) -> Iterator[Totals]:
    source = db.session.get(SourceRow, source_id)
    assert source is not None
    adapter = adapter_for(source)
    mapping = parse_mapping(source.mapping)
    watermark = None if full else stored_watermark(source_id)
    bursts = 0
    while True:
        try:
            for page in adapter.pull(watermark):
                source = db.session.get(SourceRow, source_id)
                assert source is not None
                page_totals = apply_changes(source, mapping, page.changes)
                _merge_into(totals, page_totals)
                totals.pages += 1
                if dry_run:
                    db.session.rollback()
                else:
                    _save_watermark(source_id, page.next_watermark)
                    _record_progress(run_id, totals)
                    if renew is not None:
                        renew()
                    db.session.commit()
                watermark = page.next_watermark
                yield totals
            return
        except RateLimited as error:
            if error.scope != "burst" or bursts >= MAX_BURSTS_PER_RUN \
                    or error.retry_after_s > MAX_BURST_SLEEP_SECONDS:
                raise
            bursts += 1
            db.session.rollback()
            log.info("CRM source %s throttled; waiting %.1fs", source_id, error.retry_after_s)
            sleep(error.retry_after_s)


def _record_progress(run_id: int | None, totals: Totals) -> None:
    run = db.session.get(CrmSyncRun, run_id) if run_id else None
    if run is not None:
        for name in ("created", "updated", "unchanged", "deleted", "conflicts", "review"):
            setattr(run, name, getattr(totals, name))


def _sweep(source_id: int, totals: Totals) -> None:
    """Mark and sweep: soft-delete what we hold that the source no longer lists."""
    source = db.session.get(SourceRow, source_id)
    assert source is not None
    adapter = adapter_for(source)
    if adapter.capabilities.delete_signal == DeleteSignal.IN_PULL:
        return
    live = set(adapter.list_ids())
    missing = external_ids_missing_from(source.name, live)
    if not live and missing:
        # An empty listing is far more likely a broken export or query than a CRM that
        # deleted every customer; sweeping on it would mark everyone deleted.
        raise PermanentError("the source listed no records; not sweeping")
    totals.deleted += soft_delete_external(source.name, missing)
    source.last_sweep_at = utcnow()
    db.session.commit()


def _finish(source_id: int, run_id: int, totals: Totals) -> None:
    db.session.rollback()
    source = db.session.get(SourceRow, source_id)
    run = db.session.get(CrmSyncRun, run_id)
    assert source is not None and run is not None
    _record_progress(run_id, totals)
    run.status, run.error, run.finished_at = totals.status, totals.error, utcnow()
    if totals.status == "ok":
        source.status, source.last_error, source.last_success_at = "ok", None, utcnow()
    elif totals.status == "failed":
        source.status, source.last_error = "failing", totals.error
    elif totals.status in ("retrying", "rate_limited"):
        source.last_error = totals.error
    db.session.commit()


# Jobs -------------------------------------------------------------------------------------

def sync_source(source_id: int, full: bool = False, attempt: int = 0) -> None:
    """Job: sync one source (see :func:`run_sync`); queues itself again after a transient
    error or a daily rate limit. Idempotent."""
    final = Totals()
    for totals in run_sync(source_id, full=full, attempt=attempt):
        final = totals
    if final.retry_in is not None:
        next_attempt = attempt + 1 if final.status == "retrying" else attempt
        enqueue("crm_bridge.sync.sync_source", source_id, full, next_attempt, queue=QUEUE,
                delay=final.retry_in)


def fetch_hinted(source_id: int, external_ids: list[str]) -> None:
    """Job: read the records a webhook said changed and apply them. Idempotent.

    The webhook is only a hint: what is applied is what the source returns now; ids the
    source no longer has come back as deletes.
    """
    source = db.session.get(SourceRow, source_id)
    if source is None or not source.enabled:
        return
    changes = list(adapter_for(source).fetch(external_ids))
    apply_changes(source, parse_mapping(source.mapping), changes)


def sweep_source(source_id: int) -> None:
    """Job: mark-and-sweep deletes for a source without a delete signal."""
    _sweep(source_id, Totals())


def dispatch_due_syncs() -> None:
    """Periodic job: queue a sync for every enabled, healthy source whose schedule is due."""
    now = utcnow()
    last_started = {source_id: started for source_id, started in db.session.execute(
        select(CrmSyncRun.source_id, func.max(CrmSyncRun.started_at))
        .group_by(CrmSyncRun.source_id))}
    for source in db.session.scalars(select(SourceRow).where(
            SourceRow.enabled.is_(True), SourceRow.status != "failing")):
        started = last_started.get(source.id)
        if started is None or now - started >= timedelta(minutes=source.schedule_minutes):
            enqueue("crm_bridge.sync.sync_source", source.id, queue=QUEUE)
        swept = source.last_sweep_at
        if swept is None or now - swept >= timedelta(hours=source.sweep_hours):
            enqueue("crm_bridge.sync.sweep_source", source.id, queue=QUEUE)


def preview(source: SourceRow, mapping_data: Mapping[str, Any], limit: int = 5
            ) -> list[tuple[str, Any, Mapping[str, Any] | None, str | None]]:
    """Map the first ``limit`` records the source returns: ``(id, raw, profile, error)``.

    Reads from the source, writes nothing; used by the mapping editor.
    """
    mapping = parse_mapping(mapping_data)
    adapter = adapter_for(source)
    rows: list[tuple[str, Any, Mapping[str, Any] | None, str | None]] = []
    for page in adapter.pull(None, page_size=limit):
        for change in page.changes[:limit - len(rows)]:
            result = sort_records([(1, change.external_id, change.updated_at, change.raw)],
                                  mapping, source.record_url_template)
            if result.rejected:
                rows.append((change.external_id, change.raw, None, result.rejected[0].reason))
            else:
                profile = result.profiles[0]
                rows.append((change.external_id, change.raw,
                             {"email": profile.email, **profile.fields,
                              "emails": list(profile.emails), "phones": list(profile.phones),
                              **{f"extra.{k}": v for k, v in profile.extra.items()}}, None))
        if len(rows) >= limit or page.done:
            break
    return rows
