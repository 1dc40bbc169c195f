"""Applying CRM profiles to customers in bulk: identity matching, field ownership, conflicts.

One call applies one page of profiles with a handful of queries whatever the page size (bulk
look-ups of identities, customers and organizations; inserts flushed together), so a sync of
100,000 records is bounded by the database's insert rate, not by round trips.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from helpdesk.customers.models import (
    PROFILE_FIELDS,
    Customer,
    CustomerIdentity,
    Organization,
    ProfileConflict,
)
from helpdesk.db import db, utcnow
from helpdesk.signals import customer_profile_changed

#: Bound parameters per IN list: far below SQLite's limit, large enough to batch well.
LOOKUP_CHUNK = 900


@dataclass(frozen=True, slots=True)
class IncomingProfile:
    """One CRM record in canonical form. Emails lower-cased, phones E.164, fields validated."""

    email: str
    fields: Mapping[str, Any]
    external_id: str | None = None
    emails: tuple[str, ...] = ()  # further emails besides ``email``
    phones: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None
    crm_url: str | None = None


@dataclass(slots=True)
class ApplyResult:
    """What applying a page did, by outcome; ``customers`` lists the ids of touched customers."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: int = 0
    customers: list[int] = field(default_factory=list)

    def add(self, other: ApplyResult) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.conflicts += other.conflicts


def organization_key(name: str) -> str:
    return " ".join(name.casefold().split())


def is_blank(value: Any) -> bool:
    return value is None or value == "" or value == []


def decide_field(*, current: Any, incoming: Any, entry: Mapping[str, Any],
                 helpdesk_owned: bool) -> str:
    """What a CRM value does to a stored one: "same", "apply", or a conflict reason.

    A blank is always filled. A helpdesk-owned field is never overwritten by the CRM; nor is a
    CRM-owned value an agent changed since the CRM last wrote it (the last writer was an
    agent). Both become conflicts for a person to settle instead of being silently lost.
    """
    if current == incoming:
        return "same"
    if is_blank(current):
        return "apply"
    if helpdesk_owned:
        return "helpdesk_owned"
    if entry.get("by") == "agent":
        return "edited_locally"
    return "apply"


class _PageIndex:
    """The identities, customers and organizations a page refers to, loaded in bulk."""

    def __init__(self, source: str, profiles: Sequence[IncomingProfile]) -> None:
        external_ids = {p.external_id for p in profiles if p.external_id}
        emails = {e for p in profiles for e in (p.email, *p.emails)}
        phones = {ph for p in profiles for ph in p.phones}
        self.identities: dict[tuple[str, str, str], CustomerIdentity] = {}
        for kind, namespace, values in (("external", source, external_ids),
                                        ("email", "", emails), ("phone", "", phones)):
            for chunk in _chunks(list(values)):
                for identity in db.session.scalars(select(CustomerIdentity).where(
                        CustomerIdentity.kind == kind, CustomerIdentity.namespace == namespace,
                        CustomerIdentity.value.in_(chunk))):
                    self.identities[(kind, namespace, identity.value)] = identity
        #: Customers this page creates, by every email and external id they will hold.
        self.pending: dict[tuple[str, str], Customer] = {}
        #: Identities this page adds, as rows for one INSERT.
        self.claimed: dict[tuple[str, str, str], dict[str, Any]] = {}
        # Customers whose primary email has no identity row (made before identities existed).
        self.by_primary_email: dict[str, int] = {}
        for chunk in _chunks(list(emails)):
            self.by_primary_email.update((email, customer_id) for email, customer_id in
                                         db.session.execute(select(Customer.email, Customer.id)
                                                            .where(Customer.email.in_(chunk))))
        customer_ids = {i.customer_id for i in self.identities.values()}
        customer_ids |= set(self.by_primary_email.values())
        self.customers: dict[int, Customer] = {}
        for chunk in _chunks(list(customer_ids)):
            self.customers.update((c.id, c) for c in db.session.scalars(
                select(Customer).where(Customer.id.in_(chunk))))
        names = {organization_key(str(p.fields["company"])): str(p.fields["company"])
                 for p in profiles if p.fields.get("company")}
        self.organizations: dict[str, Organization] = {}
        for chunk in _chunks(list(names)):
            self.organizations.update((o.name_key, o) for o in db.session.scalars(
                select(Organization).where(Organization.name_key.in_(chunk))))

    def customer_for(self, source: str, profile: IncomingProfile) -> Customer | None:
        """Match on external id, then any email (case-insensitive), then any phone."""
        candidates = [("external", source, profile.external_id)] if profile.external_id else []
        candidates += [("email", "", e) for e in (profile.email, *profile.emails)]
        candidates += [("phone", "", p) for p in profile.phones]
        for key in candidates:
            identity = self.identities.get(key)
            if identity is not None:
                return self.customers[identity.customer_id]
            if key in self.claimed:
                return self.customers[self.claimed[key]["customer_id"]]
            if (key[0], key[2]) in self.pending:
                return self.pending[(key[0], key[2])]
        for email in (profile.email, *profile.emails):
            if email in self.by_primary_email:
                customer = self.customers[self.by_primary_email[email]]
                return self.customers.get(customer.merged_into_id or 0, customer)
        return None

    def organization(self, name: str) -> Organization:
        key = organization_key(name)
        if key not in self.organizations:
            organization = Organization(name=name, name_key=key)
            db.session.add(organization)
            self.organizations[key] = organization
        return self.organizations[key]

    def claim(self, customer: Customer, kind: str, namespace: str, value: str,
              updated_at: datetime | None = None) -> None:
        """Give ``customer`` the identity ``(kind, namespace, value)`` unless someone holds it.

        New identities are collected and inserted together by :meth:`insert_claimed` (a
        multi-row INSERT, no ORM bookkeeping); an external id already held by this customer
        gets the record's new modification time.
        """
        key = (kind, namespace, value)
        identity = self.identities.get(key)
        if identity is not None:
            if kind == "external" and identity.customer_id == customer.id:
                identity.source_updated_at = updated_at
                identity.deleted_at = None
            return
        if key not in self.claimed:
            self.claimed[key] = {"customer_id": customer.id, "kind": kind,
                                 "namespace": namespace, "value": value,
                                 "source_updated_at": updated_at, "created_at": utcnow()}

    def insert_claimed(self) -> None:
        if self.claimed:
            db.session.execute(insert(CustomerIdentity), list(self.claimed.values()))


def apply_profiles(source: str, profiles: Sequence[IncomingProfile], *,
                   helpdesk_owned: Iterable[str] = (),
                   at: datetime | None = None) -> ApplyResult:
    """Create or update one customer per profile; idempotent.

    A profile whose ``updated_at`` is not newer than the one stored for its external id is
    skipped. Values go through :func:`decide_field`; refused ones become ``ProfileConflict``
    rows. Identities (external id, every email and phone) are added to the matched customer
    unless another customer already holds them. Flushes, never commits.
    """
    at = at or utcnow()
    owned = frozenset(helpdesk_owned)
    index = _PageIndex(source, profiles)
    result = ApplyResult()
    new_customers: list[tuple[Customer, IncomingProfile]] = []
    updates: list[tuple[Customer, IncomingProfile]] = []
    for profile in profiles:
        customer = index.customer_for(source, profile)
        link = index.identities.get(("external", source, profile.external_id or ""))
        if (link is not None and link.deleted_at is None and profile.updated_at is not None
                and link.source_updated_at is not None
                and profile.updated_at <= link.source_updated_at):
            result.unchanged += 1
            continue
        if customer is None:
            customer = Customer(email=profile.email, name="", tags=[], extra={}, provenance={})
            db.session.add(customer)
            for email in (profile.email, *profile.emails):
                index.pending[("email", email)] = customer
            if profile.external_id:
                index.pending[("external", profile.external_id)] = customer
            new_customers.append((customer, profile))
        else:
            updates.append((customer, profile))
    # New customers get their fields before the flush, so they are inserted whole (one
    # multi-row INSERT) rather than inserted and then updated.
    for customer, profile in new_customers:
        _apply_fields(index, source, customer, profile, owned, at, result, created=True)
    if new_customers:
        db.session.flush()
        for customer, _ in new_customers:
            index.customers[customer.id] = customer
    for customer, profile in updates:
        _apply_fields(index, source, customer, profile, owned, at, result, created=False)
    for customer, profile in (*new_customers, *updates):
        for email in (profile.email, *profile.emails):
            index.claim(customer, "email", "", email)
        for phone in profile.phones:
            index.claim(customer, "phone", "", phone)
        if profile.external_id:
            index.claim(customer, "external", source, profile.external_id, profile.updated_at)
        result.customers.append(customer.id)
    db.session.flush()
    index.insert_claimed()
    return result


def _apply_fields(index: _PageIndex, source: str, customer: Customer, profile: IncomingProfile,
               owned: frozenset[str], at: datetime, result: ApplyResult, *,
               created: bool) -> None:
    provenance = dict(customer.provenance or {})
    changed: list[str] = []
    conflicts = 0
    stamp = {"by": "crm", "source": source, "external_id": profile.external_id,
             "at": at.isoformat()}
    for name in PROFILE_FIELDS:
        if name not in profile.fields:
            continue
        incoming = profile.fields[name]
        is_owned = name in owned
        verdict = decide_field(current=getattr(customer, name), incoming=incoming,
                               entry=provenance.get(name, {}), helpdesk_owned=is_owned)
        if verdict == "apply":
            setattr(customer, name, incoming)
            provenance[name] = {**stamp, "owner": "helpdesk" if is_owned else "crm"}
            changed.append(name)
        elif verdict != "same":
            _record_conflict(customer, name, source, profile.external_id, incoming, verdict)
            conflicts += 1
    if profile.extra:
        merged_extra = {**(customer.extra or {}), **profile.extra}
        if merged_extra != customer.extra:
            customer.extra = merged_extra
            changed.append("extra")
    if "company" in changed and customer.company:
        customer.organization = index.organization(customer.company)
    if profile.crm_url and customer.crm_url != profile.crm_url:
        customer.crm_url = profile.crm_url
    if profile.external_id and customer.external_id != profile.external_id:
        customer.external_id = profile.external_id
    if changed or created:
        customer.provenance = provenance
        customer.profile_source = source
    customer.profile_synced_at = at
    customer.deleted_at = None
    result.conflicts += conflicts
    if created:
        result.created += 1
    elif changed:
        result.updated += 1
    else:
        result.unchanged += 1
    if changed and not created:
        customer_profile_changed.send(customer, fields=tuple(changed), source=source)


def _record_conflict(customer: Customer, name: str, source: str, external_id: str | None,
                     incoming: Any, reason: str) -> None:
    """Open a conflict, or refresh the open one for this field and source (no duplicates)."""
    conflict = db.session.scalar(select(ProfileConflict).where(
        ProfileConflict.customer_id == customer.id, ProfileConflict.field == name,
        ProfileConflict.source == source, ProfileConflict.resolved_at.is_(None)))
    if conflict is None:
        conflict = ProfileConflict(customer_id=customer.id, field=name, source=source)
        db.session.add(conflict)
    conflict.external_id = external_id
    conflict.crm_value = incoming
    conflict.local_value = getattr(customer, name)
    conflict.reason = reason


def soft_delete_external(source: str, external_ids: Iterable[str],
                         at: datetime | None = None) -> int:
    """Mark the customers behind these external ids as deleted in the CRM; returns how many.

    Customers are never removed (tickets reference them); a later upsert revives them.
    """
    at = at or utcnow()
    count = 0
    for chunk in _chunks(list(external_ids)):
        links = list(db.session.scalars(select(CustomerIdentity).where(
            CustomerIdentity.kind == "external", CustomerIdentity.namespace == source,
            CustomerIdentity.value.in_(chunk), CustomerIdentity.deleted_at.is_(None))))
        customers = {c.id: c for c in db.session.scalars(select(Customer).where(
            Customer.id.in_([link.customer_id for link in links])))}
        for link in links:
            link.deleted_at = at
            customers[link.customer_id].deleted_at = at
            count += 1
    db.session.flush()
    return count


def external_ids_missing_from(source: str, live_ids: set[str]) -> list[str]:
    """External ids we hold for ``source`` (not yet deleted) that are not in ``live_ids``."""
    held = db.session.scalars(select(CustomerIdentity.value).where(
        CustomerIdentity.kind == "external", CustomerIdentity.namespace == source,
        CustomerIdentity.deleted_at.is_(None)))
    return [value for value in held if value not in live_ids]


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), LOOKUP_CHUNK):
        yield items[start:start + LOOKUP_CHUNK]
