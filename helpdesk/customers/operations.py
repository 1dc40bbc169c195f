"""Customer writes: identify senders, apply CRM profiles, agent edits, conflict resolution."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, literal, select, union_all

from helpdesk.actors import Actor
from helpdesk.customers.models import Customer, CustomerIdentity, ProfileConflict
from helpdesk.customers.profiles import IncomingProfile, apply_profiles
from helpdesk.db import db, utcnow


class InvalidProfileChange(ValueError):
    """An edit the rules do not allow (a CRM-owned field, a resolved conflict)."""


def normalize_email(address: str) -> str:
    return address.strip().lower()


def _customers_by_email_query() -> Select[Customer, str, int]:
    emails: BindParameter[str] = bindparam("emails", expanding=True)
    # Both halves are index look-ups (identity value, customer email); an OR across the
    # two tables would scan. Rank 0: found by an identity.
    matched = union_all(
        select(CustomerIdentity.value.label("email"),
               CustomerIdentity.customer_id.label("customer_id"), literal(0).label("rank"))
        .where(CustomerIdentity.kind == "email", CustomerIdentity.namespace == "",
               CustomerIdentity.value.in_(emails)),
        select(Customer.email, Customer.id, literal(1))
        .where(Customer.email.in_(emails))).subquery()
    return (select(Customer, matched.c.email, matched.c.rank)
            .join(matched, Customer.id == matched.c.customer_id))


#: Built once: composing the union costs more than running it.
_CUSTOMERS_BY_EMAIL = _customers_by_email_query()


def customer_by_email(email: str) -> Customer | None:
    """The customer holding ``email`` as any of their addresses (case-insensitive)."""
    return customers_by_email([email]).get(normalize_email(email))


def customers_by_email(emails: Iterable[str]) -> dict[str, Customer]:
    """The customers holding ``emails`` (any of their addresses, case-insensitive), keyed by
    the normalised address; unknown addresses are left out.

    One query for all of them: an email identity wins over a primary address, and a
    customer found by the primary address of a merged-away record is its winner.
    """
    wanted = list(dict.fromkeys(normalize_email(email) for email in emails))
    if not wanted:
        return {}
    rows = db.session.execute(_CUSTOMERS_BY_EMAIL, {"emails": wanted}).all()
    found: dict[str, Customer] = {}
    for customer, email, rank in sorted(rows, key=lambda row: row[2]):
        if email in found:
            continue
        if rank == 1 and customer.merged_into_id is not None:
            winner = db.session.get(Customer, customer.merged_into_id)
            if winner is None:
                continue
            customer = winner
        found[email] = customer
    return found


def find_or_create_customer(email: str, name: str = "") -> Customer:
    """The customer with this email -- primary or secondary, case-insensitive -- created if new.

    A known customer keeps their name: a From display name is not a trustworthy profile source.
    """
    return find_or_create_customers({email: name})[normalize_email(email)]


def find_or_create_customers(addresses: Mapping[str, str], *,
                             known: Mapping[str, Customer] | None = None,
                             ) -> dict[str, Customer]:
    """:func:`find_or_create_customer` for several addresses at once (``addresses`` maps
    each to a display name, "" when there is none), keyed by the normalised address.

    One look-up for all of them (none when ``known``, an earlier :func:`customers_by_email`
    of the same addresses in this unit of work, is given) and one insert of the new ones
    with their identities.
    """
    names: dict[str, str] = {}
    for email, name in addresses.items():
        names.setdefault(normalize_email(email), name.strip()[:200])
    customers = dict(known) if known is not None else customers_by_email(names)
    new = [Customer(email=email, name=name, tags=[], extra={}, provenance={})
           for email, name in names.items() if email not in customers]
    for email, name in names.items():
        customer = customers.get(email)
        if customer is not None and not customer.name and name:
            customer.name = name
    if new:
        db.session.add_all(new)
        db.session.flush()
        db.session.add_all([CustomerIdentity(customer_id=customer.id, kind="email",
                                             namespace="", value=customer.email)
                            for customer in new])
        db.session.flush()
        customers.update((customer.email, customer) for customer in new)
    return {email: customers[email] for email in names}


@dataclass(frozen=True, slots=True)
class ProfileUpdate:
    created: bool
    changed_fields: tuple[str, ...]


def upsert_profile(email: str, profile: Mapping[str, Any], *, source: str,
                   external_id: str | None = None,
                   synced_at: datetime | None = None) -> tuple[Customer, ProfileUpdate]:
    """Create or update one customer's CRM profile (see ``apply_profiles``); idempotent."""
    email = normalize_email(email)
    before = customer_by_email(email)
    old = {name: getattr(before, name) for name in profile} if before else {}
    result = apply_profiles(source, [IncomingProfile(email=email, fields=profile,
                                                     external_id=external_id)], at=synced_at)
    customer = db.session.get(Customer, result.customers[0])
    assert customer is not None
    changed = tuple(name for name in profile if before and getattr(customer, name) != old[name])
    return customer, ProfileUpdate(created=bool(result.created), changed_fields=changed)


def edit_profile(actor: Actor, customer: Customer, changes: Mapping[str, Any]) -> list[str]:
    """An agent's edit of helpdesk-owned fields; returns the names of fields that changed.

    CRM-owned fields are refused: the CRM would overwrite them (or, with a conflict, ask
    again) on its next sync, so the change belongs in the CRM.
    """
    refused = [name for name in changes if customer.field_owner(name) != "helpdesk"]
    if refused:
        raise InvalidProfileChange(f"owned by the CRM: {', '.join(refused)}")
    provenance = dict(customer.provenance or {})
    changed = []
    for name, value in changes.items():
        if getattr(customer, name) != value:
            setattr(customer, name, value)
            provenance[name] = {"by": "agent", "actor": actor.name, "at": utcnow().isoformat(),
                                "owner": "helpdesk"}
            changed.append(name)
    customer.provenance = provenance
    db.session.flush()
    return changed


def resolve_conflict(actor: Actor, conflict: ProfileConflict, take: str) -> None:
    """Settle a conflict: ``take="crm"`` applies the CRM value, ``"ours"`` keeps the stored one.

    Either way the conflict is closed with who decided; taking the CRM value records the CRM
    as the value's provenance (the field's owner does not change).
    """
    if conflict.resolved_at is not None:
        raise InvalidProfileChange("already resolved")
    if take not in ("crm", "ours"):
        raise InvalidProfileChange(f"unknown choice {take!r}")
    customer = db.session.get(Customer, conflict.customer_id)
    assert customer is not None
    if take == "crm":
        provenance = dict(customer.provenance or {})
        setattr(customer, conflict.field, conflict.crm_value)
        provenance[conflict.field] = {
            "by": "crm", "source": conflict.source, "external_id": conflict.external_id,
            "at": utcnow().isoformat(), "actor": actor.name,
            "owner": customer.field_owner(conflict.field)}
        customer.provenance = provenance
    conflict.resolution = take
    conflict.resolved_by = actor.name
    conflict.resolved_at = utcnow()
    db.session.flush()
