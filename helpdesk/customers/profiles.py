"""Applying CRM profiles to customers in bulk: identity matching, field ownership, conflicts.

One call applies one page of profiles with a handful of queries whatever the page size (bulk
look-ups of identities, customers and organizations; new customers, organizations and
identities written by multi-row Core INSERTs, changes to stored customers through the ORM), so
a sync of 100,000 records is bounded by the database's insert rate, not by round trips.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, select, text

from helpdesk.customers.models import (
    PROFILE_FIELDS,
    Customer,
    CustomerIdentity,
    Organization,
    ProfileConflict,
)
from helpdesk.db import Model, db, utcnow
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


#: Columns of the customer that merging a profile reads.
_MERGED_COLUMNS = (*PROFILE_FIELDS, "provenance", "extra", "crm_url", "external_id")


@dataclass(eq=False, slots=True)
class _NewCustomer:
    """A customer this page creates: the row to insert, and its id once inserted.

    New customers are written by one multi-row INSERT instead of as ORM objects: the unit of
    work's bookkeeping for thousands of new objects cost more than the rest of the apply.
    """

    values: dict[str, Any]
    id: int = 0

    @classmethod
    def blank(cls, email: str, at: datetime) -> _NewCustomer:
        # Every row of one INSERT names the same columns, so the defaults are spelled out.
        return cls({"email": email, "name": "", "phone": None, "company": None, "tier": None,
                    "owner": None, "tags": [], "lifetime_value": None, "external_id": None,
                    "profile_source": None, "profile_synced_at": None, "crm_url": None,
                    "provenance": {}, "extra": {}, "organization_id": None,
                    "deleted_at": None, "merged_into_id": None, "created_at": at})


#: A customer a profile applies to: one already stored, or one this page creates.
Target = Customer | _NewCustomer


@dataclass(slots=True)
class _Merge:
    """What applying one profile to a customer changes (see :func:`_merge_profile`)."""

    values: dict[str, Any]
    changed: list[str]
    #: ``(field, CRM value, stored value, reason)`` of each refused value
    conflicts: list[tuple[str, Any, Any, str]]


def _merge_profile(current: Mapping[str, Any], source: str, profile: IncomingProfile,
                   owned: frozenset[str], at: datetime, *, created: bool) -> _Merge:
    """The column values applying ``profile`` to a customer holding ``current`` sets. Pure."""
    provenance = dict(current["provenance"] or {})
    merge = _Merge({}, [], [])
    stamp = {"by": "crm", "source": source, "external_id": profile.external_id,
             "at": at.isoformat()}
    # One entry per owner, shared by the fields it describes (entries are replaced, never
    # changed in place).
    entries = {True: {**stamp, "owner": "helpdesk"}, False: {**stamp, "owner": "crm"}}
    for name in PROFILE_FIELDS:
        if name not in profile.fields:
            continue
        incoming = profile.fields[name]
        is_owned = name in owned
        verdict = decide_field(current=current[name], incoming=incoming,
                               entry=provenance.get(name, {}), helpdesk_owned=is_owned)
        if verdict == "apply":
            merge.values[name] = incoming
            provenance[name] = entries[is_owned]
            merge.changed.append(name)
        elif verdict != "same":
            merge.conflicts.append((name, incoming, current[name], verdict))
    if profile.extra:
        merged_extra = {**(current["extra"] or {}), **profile.extra}
        if merged_extra != current["extra"]:
            merge.values["extra"] = merged_extra
            merge.changed.append("extra")
    if profile.crm_url and current["crm_url"] != profile.crm_url:
        merge.values["crm_url"] = profile.crm_url
    if profile.external_id and current["external_id"] != profile.external_id:
        merge.values["external_id"] = profile.external_id
    if merge.changed or created:
        merge.values["provenance"] = provenance
        merge.values["profile_source"] = source
    merge.values["profile_synced_at"] = at
    merge.values["deleted_at"] = None
    return merge


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
                        CustomerIdentity.value.in_(chunk), CustomerIdentity.kind == kind,
                        CustomerIdentity.namespace == namespace)):
                    self.identities[(kind, namespace, identity.value)] = identity
        #: Customers this page creates, by every email and external id they will hold.
        self.pending: dict[tuple[str, str], _NewCustomer] = {}
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
        #: Organization ids by folded name, filled by :meth:`organization_ids`.
        self.organizations: dict[str, int] = {}

    def customer_for(self, source: str, profile: IncomingProfile) -> Target | None:
        """Match on external id, then any email (case-insensitive), then any phone."""
        candidates = [("external", source, profile.external_id)] if profile.external_id else []
        candidates += [("email", "", e) for e in (profile.email, *profile.emails)]
        candidates += [("phone", "", p) for p in profile.phones]
        for kind, namespace, value in candidates:
            identity = self.identities.get((kind, namespace, value))
            if identity is not None:
                return self.customers[identity.customer_id]
            if (kind, value) in self.pending:
                return self.pending[(kind, value)]
        for email in (profile.email, *profile.emails):
            if email in self.by_primary_email:
                customer = self.customers[self.by_primary_email[email]]
                return self.customers.get(customer.merged_into_id or 0, customer)
        return None

    def create(self, profile: IncomingProfile, at: datetime) -> _NewCustomer:
        """A new customer for ``profile``, found by later profiles of the page that match it."""
        new = _NewCustomer.blank(profile.email, at)
        for email in (profile.email, *profile.emails):
            self.pending[("email", email)] = new
        if profile.external_id:
            self.pending[("external", profile.external_id)] = new
        return new

    def organization_ids(self, names: Iterable[str], at: datetime) -> dict[str, int]:
        """The ids of the organizations called ``names`` (by folded name), creating missing ones."""
        wanted = {organization_key(name): name for name in names}
        for chunk in _chunks([key for key in wanted if key not in self.organizations]):
            self.organizations.update(db.session.execute(
                select(Organization.name_key, Organization.id)
                .where(Organization.name_key.in_(chunk))).all())
        missing = [{"name": name, "name_key": key, "created_at": at}
                   for key, name in wanted.items() if key not in self.organizations]
        if missing:
            table = _table(Organization)
            self.organizations.update(db.session.execute(
                insert(table).returning(table.c.name_key, table.c.id), missing).all())
        return {key: self.organizations[key] for key in wanted}

    def claim(self, customer_id: int, kind: str, namespace: str, value: str, at: datetime,
              updated_at: datetime | None = None) -> None:
        """Give the customer the identity ``(kind, namespace, value)`` unless someone holds it.

        New identities are collected and inserted together by :meth:`insert_claimed` (a
        multi-row INSERT, no ORM bookkeeping); an external id already held by this customer
        gets the record's new modification time.
        """
        key = (kind, namespace, value)
        identity = self.identities.get(key)
        if identity is not None:
            if kind == "external" and identity.customer_id == customer_id:
                identity.source_updated_at = updated_at
                identity.deleted_at = None
            return
        if key not in self.claimed:
            self.claimed[key] = {"customer_id": customer_id, "kind": kind,
                                 "namespace": namespace, "value": value,
                                 "source_updated_at": updated_at, "created_at": at}

    def insert_claimed(self) -> None:
        if self.claimed:
            db.session.execute(insert(_table(CustomerIdentity)),
                               list(self.claimed.values()))


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
    _plan_for_the_tables_as_they_are()
    owned = frozenset(helpdesk_owned)
    index = _PageIndex(source, profiles)
    result = ApplyResult()
    applied: list[tuple[Target, IncomingProfile, _Merge, bool]] = []
    for profile in profiles:
        target = index.customer_for(source, profile)
        link = index.identities.get(("external", source, profile.external_id or ""))
        if (link is not None and link.deleted_at is None and profile.updated_at is not None
                and link.source_updated_at is not None
                and profile.updated_at <= link.source_updated_at):
            result.unchanged += 1
            continue
        created = target is None
        if target is None:
            target = index.create(profile, at)
        current = (target.values if isinstance(target, _NewCustomer)
                   else {name: getattr(target, name) for name in _MERGED_COLUMNS})
        merge = _merge_profile(current, source, profile, owned, at, created=created)
        # Written at once, so a later profile of the page matching this customer sees it.
        if isinstance(target, _NewCustomer):
            target.values.update(merge.values)
        else:
            for name, value in merge.values.items():
                setattr(target, name, value)
        applied.append((target, profile, merge, created))
        result.conflicts += len(merge.conflicts)
        if created:
            result.created += 1
        elif merge.changed:
            result.updated += 1
        else:
            result.unchanged += 1
    _link_organizations(index, applied, at)
    new_customers = list({id(target): target for target, _, _, _ in applied
                          if isinstance(target, _NewCustomer)}.values())
    if new_customers:
        _insert_customers(new_customers)
    for target, profile, merge, created in applied:
        for name, incoming, local, reason in merge.conflicts:
            _record_conflict(target.id, name, source, profile.external_id, incoming, local,
                             reason)
        for email in (profile.email, *profile.emails):
            index.claim(target.id, "email", "", email, at)
        for phone in profile.phones:
            index.claim(target.id, "phone", "", phone, at)
        if profile.external_id:
            index.claim(target.id, "external", source, profile.external_id, at,
                        profile.updated_at)
        result.customers.append(target.id)
        if merge.changed and not created:
            customer = (target if isinstance(target, Customer)
                        else db.session.get(Customer, target.id))
            customer_profile_changed.send(customer, fields=tuple(merge.changed), source=source)
    db.session.flush()
    index.insert_claimed()
    return result


def _plan_for_the_tables_as_they_are() -> None:
    """On PostgreSQL, plan this transaction's look-ups afresh instead of reusing cached plans.

    psycopg prepares a statement after a few runs and PostgreSQL then keeps one generic plan.
    A plan made while the identity table was nearly empty -- the first pages of an initial
    sync -- scanned the whole, grown table on every later look-up. ``SET LOCAL`` confines the
    setting to the bulk apply's own transaction; the rest of the application keeps its plans.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def _link_organizations(index: _PageIndex,
                        applied: Sequence[tuple[Target, IncomingProfile, _Merge, bool]],
                        at: datetime) -> None:
    """Point every customer whose company changed at its organization (made if new)."""
    moved = [(target, merge.values["company"]) for target, _, merge, _ in applied
             if "company" in merge.changed and merge.values["company"]]
    ids = index.organization_ids((company for _, company in moved), at)
    for target, company in moved:
        organization_id = ids[organization_key(company)]
        if isinstance(target, _NewCustomer):
            target.values["organization_id"] = organization_id
        else:
            target.organization_id = organization_id
            # The loaded relationship would still show the old organization until expired.
            db.session.expire(target, ["organization"])


def _insert_customers(new_customers: Sequence[_NewCustomer]) -> None:
    """Insert the page's new customers, then read their ids back by (unique) email.

    A plain multi-row INSERT and one SELECT took a third of the time of INSERT ... RETURNING
    on PostgreSQL, whose multi-row RETURNING goes through a slower statement form.
    """
    db.session.execute(insert(_table(Customer)), [new.values for new in new_customers])
    by_email = {new.values["email"]: new for new in new_customers}
    for chunk in _chunks(list(by_email)):
        for email, customer_id in db.session.execute(
                select(Customer.email, Customer.id).where(Customer.email.in_(chunk))):
            by_email[email].id = customer_id


def _record_conflict(customer_id: int, name: str, source: str, external_id: str | None,
                     incoming: Any, local: Any, reason: str) -> None:
    """Open a conflict, or refresh the open one for this field and source (no duplicates)."""
    conflict = db.session.scalar(select(ProfileConflict).where(
        ProfileConflict.customer_id == customer_id, ProfileConflict.field == name,
        ProfileConflict.source == source, ProfileConflict.resolved_at.is_(None)))
    if conflict is None:
        conflict = ProfileConflict(customer_id=customer_id, field=name, source=source)
        db.session.add(conflict)
    conflict.external_id = external_id
    conflict.crm_value = incoming
    conflict.local_value = local
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


def _table(model: type[Model]) -> Table:
    """The model's table: Core INSERTs of many rows skip the ORM's per-object bookkeeping."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), LOOKUP_CHUNK):
        yield items[start:start + LOOKUP_CHUNK]
