"""From source records to canonical profiles: map, validate, and sort out what cannot be used.

Shared by the file import, the sync loop, webhook fetches and the mapping preview, so a
record is judged the same way wherever it comes from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from crm_bridge.mapping import FieldMapping, MappedProfile, MappingError, map_record
from helpdesk.customers.models import Customer
from helpdesk.customers.profiles import IncomingProfile


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that did not map: where it was (row number or external id) and why."""

    position: int
    external_id: str | None
    raw: Any
    reason: str


@dataclass(frozen=True, slots=True)
class Accepted:
    position: int
    raw: Any
    profile: IncomingProfile


@dataclass(slots=True)
class Sorted:
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def profiles(self) -> list[IncomingProfile]:
        return [item.profile for item in self.accepted]


def record_url(template: str | None, external_id: str | None) -> str | None:
    """The CRM link for ``external_id``; only http(s) templates, the id URL-quoted."""
    if not template or not external_id or not template.startswith(("https://", "http://")):
        return None
    return template.replace("{external_id}", quote(external_id, safe=""))


def to_incoming(mapped: MappedProfile, *, external_id: str | None,
                updated_at: datetime | None, url_template: str | None) -> IncomingProfile:
    external_id = external_id or mapped.external_id
    check_storable(mapped, external_id)
    return IncomingProfile(
        email=mapped.email, fields=mapped.fields, external_id=external_id,
        emails=mapped.emails, phones=mapped.phones, extra=mapped.extra, updated_at=updated_at,
        crm_url=record_url(url_template, external_id))


def sort_records(records: Sequence[tuple[int, str | None, datetime | None, Any]],
                 mapping: FieldMapping, url_template: str | None = None) -> Sorted:
    """Map ``(position, external id, updated at, raw record)`` tuples; reject what fails.

    Two records of one batch with the same email and no external ids would make the result
    depend on their order, so the second is rejected; the CRM should hold one per email.
    """
    result = Sorted()
    first_of: dict[str, int] = {}
    for position, external_id, updated_at, raw in records:
        try:
            mapped = map_record(raw, mapping)
            key = external_id or mapped.external_id or mapped.email
            if key in first_of:
                kind = "email" if key == mapped.email else "external id"
                raise MappingError(f"{kind} {key} is also on row {first_of[key]}; "
                                   "only that row is applied")
            profile = to_incoming(mapped, external_id=external_id, updated_at=updated_at,
                                  url_template=url_template)
        except MappingError as error:
            result.rejected.append(Rejected(position, external_id, raw, str(error)))
        else:
            first_of[key] = position
            result.accepted.append(Accepted(position, raw, profile))
    return result


#: Length limits of the customer's text columns, read once rather than per record.
_TEXT_LIMITS = {column.name: length for column in Customer.__table__.columns
                if isinstance(length := getattr(column.type, "length", None), int)}


def check_storable(profile: MappedProfile, external_id: str | None) -> None:
    """Refuse text longer than its customer column, which PostgreSQL would reject mid-batch."""
    texts: Mapping[str, Any] = {"email": profile.email, "external_id": external_id,
                                **profile.fields}
    for name, value in texts.items():
        limit = _TEXT_LIMITS.get(name)
        if isinstance(value, str) and limit is not None and len(value) > limit:
            raise MappingError(f"{name} is longer than {limit} characters")
    for value in (*profile.emails, *profile.phones):
        if len(value) > 254:
            raise MappingError("an email or phone is longer than 254 characters")
