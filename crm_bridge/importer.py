"""Import customer profiles from a CRM export file (CSV or JSON) through a field mapping."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from crm_bridge.mapping import FieldMapping, MappedProfile, MappingError, map_record
from crm_bridge.operations import record_unmapped
from crm_bridge.sources import read_records
from helpdesk.customers.models import Customer
from helpdesk.customers.operations import upsert_profile
from helpdesk.db import db

DEFAULT_BATCH_SIZE = 500


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
    invalid_rows: list[InvalidRow] = field(default_factory=list)

    @property
    def invalid(self) -> int:
        return len(self.invalid_rows)


def import_profiles(path: str | Path, mapping: FieldMapping, source_name: str, *,
                    encoding: str | None = None,
                    batch_size: int = DEFAULT_BATCH_SIZE) -> ImportSummary:
    """Upsert one customer profile per valid record of ``path``; list invalid ones for review.

    Customers are matched by email, case-insensitively. Each valid row is one
    ``upsert_profile`` call, so it is applied whole or not at all; an invalid row (see
    :func:`~crm_bridge.mapping.map_record`, plus values too long to store and a second row
    for an email already seen in this file) changes no customer and is put on the review
    list (``CrmReviewItem``) with its reason.

    This is a unit of work of its own, like a job: it commits every ``batch_size`` rows and at
    the end, so a large import does not hold the database's write lock throughout. If it stops
    part-way (a crash, an undecodable byte deep in the file), the committed batches stay; as
    the import is idempotent -- the same file again changes nothing and lists nothing twice --
    the remedy is to run it again.
    """
    summary = ImportSummary()
    first_row_of_email: dict[str, int] = {}
    for count, (row_number, record) in enumerate(read_records(path, encoding), start=1):
        try:
            profile = map_record(record, mapping)
            _check_storable(profile)
            if profile.email in first_row_of_email:
                # Applying both would make the result depend on row order and every re-run
                # report an update; the CRM should hold one record per email.
                raise MappingError(f"email {profile.email} is also on row "
                                   f"{first_row_of_email[profile.email]}; only that row is applied")
        except MappingError as error:
            record_unmapped(source_name, row_number, record, str(error))
            summary.invalid_rows.append(InvalidRow(row_number, str(error)))
        else:
            first_row_of_email[profile.email] = row_number
            _, update = upsert_profile(profile.email, profile.fields, source=source_name,
                                       external_id=profile.external_id)
            if update.created:
                summary.created += 1
            elif update.changed_fields:
                summary.updated += 1
            else:
                summary.unchanged += 1
        if count % batch_size == 0:
            db.session.commit()
    db.session.commit()
    return summary


def _check_storable(profile: MappedProfile) -> None:
    """Refuse text longer than its customer column, which PostgreSQL would reject mid-batch."""
    texts = {"email": profile.email, "external_id": profile.external_id, **profile.fields}
    for name, value in texts.items():
        limit = getattr(Customer.__table__.c[name].type, "length", None)
        if isinstance(value, str) and limit is not None and len(value) > limit:
            raise MappingError(f"{name} is longer than {limit} characters")
