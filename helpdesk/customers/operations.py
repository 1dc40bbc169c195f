"""Customer writes: identify senders, update CRM profiles."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from helpdesk.customers.models import PROFILE_FIELDS, Customer
from helpdesk.db import db, utcnow
from helpdesk.signals import customer_profile_changed


def normalize_email(address: str) -> str:
    return address.strip().lower()


def find_or_create_customer(email: str, name: str = "") -> Customer:
    """The customer with this email (case-insensitive), created if new.

    A known customer keeps their name: a From display name is not a trustworthy profile source.
    """
    email = normalize_email(email)
    customer = db.session.scalar(select(Customer).where(Customer.email == email))
    if customer is None:
        customer = Customer(email=email, name=name.strip()[:200], tags=[], extra={})
        db.session.add(customer)
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
    """Create or update a customer's CRM profile, matched by email (case-insensitive).

    Only fields named in ``PROFILE_FIELDS`` are written; fields absent from ``profile`` are left
    alone. Idempotent: applying the same profile twice changes nothing the second time.
    """
    email = normalize_email(email)
    customer = db.session.scalar(select(Customer).where(Customer.email == email))
    created = customer is None
    if customer is None:
        customer = Customer(email=email, name="", tags=[], extra={})
        db.session.add(customer)
    changed = []
    for field in PROFILE_FIELDS:
        if field in profile and getattr(customer, field) != profile[field]:
            setattr(customer, field, profile[field])
            changed.append(field)
    if external_id is not None and customer.external_id != external_id:
        customer.external_id = external_id
        changed.append("external_id")
    if changed or created:
        customer.profile_source = source
    customer.profile_synced_at = synced_at or utcnow()
    db.session.flush()
    if changed:
        customer_profile_changed.send(customer, fields=tuple(changed), source=source)
    return customer, ProfileUpdate(created=created, changed_fields=tuple(changed))
