"""Customer writes: identify senders, apply CRM profiles, agent edits, conflict resolution."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from helpdesk.actors import Actor
from helpdesk.customers.models import Customer, CustomerIdentity, ProfileConflict
from helpdesk.customers.profiles import IncomingProfile, apply_profiles
from helpdesk.db import db, utcnow


class InvalidProfileChange(ValueError):
    """An edit the rules do not allow (a CRM-owned field, a resolved conflict)."""


def normalize_email(address: str) -> str:
    return address.strip().lower()


def customer_by_email(email: str) -> Customer | None:
    """The customer holding ``email`` as any of their addresses (case-insensitive)."""
    email = normalize_email(email)
    customer_id = db.session.scalar(select(CustomerIdentity.customer_id).where(
        CustomerIdentity.kind == "email", CustomerIdentity.namespace == "",
        CustomerIdentity.value == email))
    if customer_id is not None:
        return db.session.get(Customer, customer_id)
    customer = db.session.scalar(select(Customer).where(Customer.email == email))
    if customer is not None and customer.merged_into_id is not None:
        return db.session.get(Customer, customer.merged_into_id)
    return customer


def find_or_create_customer(email: str, name: str = "") -> Customer:
    """The customer with this email -- primary or secondary, case-insensitive -- created if new.

    A known customer keeps their name: a From display name is not a trustworthy profile source.
    """
    email = normalize_email(email)
    customer = customer_by_email(email)
    if customer is None:
        customer = Customer(email=email, name=name.strip()[:200], tags=[], extra={},
                            provenance={})
        db.session.add(customer)
        db.session.flush()
        db.session.add(CustomerIdentity(customer_id=customer.id, kind="email", namespace="",
                                        value=email))
        db.session.flush()
    elif not customer.name and name.strip():
        customer.name = name.strip()[:200]
    return customer


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
