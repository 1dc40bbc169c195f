"""Import customer profiles from a CRM export file (CSV, XLSX or JSON) through a mapping."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from crm_bridge.mapping import FieldMapping
from crm_bridge.operations import record_unmapped
from crm_bridge.records import sort_records
from crm_bridge.sources import read_records
from helpdesk.customers.profiles import apply_profiles
from helpdesk.db import db

DEFAULT_BATCH_SIZE = 1000


@dataclass(frozen=True, slots=True)
class InvalidRow:
    row_number: int
    reason: str


@dataclass(slots=True)
class ImportSummary:
    """What an import did: counts per outcome and, for invalid rows, where and why."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: int = 0
    invalid_rows: list[InvalidRow] = field(default_factory=list)

    @property
    def invalid(self) -> int:
        return len(self.invalid_rows)


def import_profiles(path: str | Path, mapping: FieldMapping, source_name: str, *,
                    encoding: str | None = None,
                    batch_size: int = DEFAULT_BATCH_SIZE) -> ImportSummary:
    """Upsert one customer profile per valid record of ``path``; list invalid ones for review.

    The file is streamed in batches of ``batch_size`` records: each batch is mapped (see
    :func:`crm_bridge.records.sort_records`), applied with bulk look-ups
    (:func:`helpdesk.customers.profiles.apply_profiles`) and committed, so memory stays flat
    and a large import does not hold the database's write lock throughout. An invalid row
    changes no customer and is put on the review list (``CrmReviewItem``) with its reason;
    a second row for an email already seen in the file is invalid too.

    If it stops part-way (a crash, an undecodable byte deep in the file), the committed
    batches stay; as the import is idempotent -- the same file again changes nothing and
    lists nothing twice -- the remedy is to run it again.
    """
    summary = ImportSummary()
    first_row_of_email: dict[str, int] = {}
    records = read_records(path, encoding)
    while batch := list(islice(records, batch_size)):
        sorted_batch = sort_records([(row, None, None, raw) for row, raw in batch], mapping)
        profiles = []
        for item in sorted_batch.accepted:
            row, raw, profile = item.position, item.raw, item.profile
            if profile.email in first_row_of_email:
                reason = (f"email {profile.email} is also on row "
                          f"{first_row_of_email[profile.email]}; only that row is applied")
                record_unmapped(source_name, row, raw, reason)
                summary.invalid_rows.append(InvalidRow(row, reason))
                continue
            first_row_of_email[profile.email] = row
            profiles.append(profile)
        for rejected in sorted_batch.rejected:
            record_unmapped(source_name, rejected.position, rejected.raw, rejected.reason)
            summary.invalid_rows.append(InvalidRow(rejected.position, rejected.reason))
        result = apply_profiles(source_name, profiles, helpdesk_owned=mapping.helpdesk_owned)
        summary.created += result.created
        summary.updated += result.updated
        summary.unchanged += result.unchanged
        summary.conflicts += result.conflicts
        db.session.commit()
    summary.invalid_rows.sort(key=lambda row: row.row_number)
    return summary

