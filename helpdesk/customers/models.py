"""Customers, their identities (emails, phones, CRM ids), organizations, merges and conflicts.

``Customer`` keeps the canonical, current profile in plain columns (``tier``, ``tags``,
``owner``, ``company``, ...): SLA conditions and routing rules read those. Where each value
came from is kept beside it in ``provenance``, and who may change it (the CRM or the helpdesk)
in the same entry, so the console can explain every value without knowing the CRM bridge.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.actors import Actor
from helpdesk.db import Model, UTCDateTime, utcnow

#: Profile fields a CRM may supply; the console shows them in the ticket sidebar.
PROFILE_FIELDS = ("name", "phone", "company", "tier", "owner", "tags", "lifetime_value")
#: Identity kinds: an email or phone matches across sources; an external id is per source.
IDENTITY_KINDS = ("email", "phone", "external")


class Organization(Model):
    """A company customers belong to, made from the CRM's company field."""

    __tablename__ = "organization"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: ``name`` folded for matching ("ACME Ltd" and "acme ltd" are one organization).
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Customer(Model):
    """A person who writes to support. ``email`` is the primary one, lower-cased and unique."""

    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str | None] = mapped_column(String(40))
    company: Mapped[str | None] = mapped_column(String(200))
    tier: Mapped[str | None] = mapped_column(String(40), index=True)
    owner: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    lifetime_value: Mapped[str | None] = mapped_column(String(60))
    external_id: Mapped[str | None] = mapped_column(String(120), index=True)
    profile_source: Mapped[str | None] = mapped_column(String(60))
    profile_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The record in the CRM (built from the source's URL template when the profile is synced).
    crm_url: Mapped[str | None] = mapped_column(String(500))
    #: Per profile field: ``{"by": "crm"|"agent"|"import", "source", "external_id", "at",
    #: "actor", "owner": "crm"|"helpdesk"}`` for the value it holds now.
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organization.id", ondelete="SET NULL"), index=True)
    #: Set when the CRM deleted the record; tickets still reference the customer.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Set on the customer that was merged into another (reversible, see ``CustomerMerge``).
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organization: Mapped[Organization | None] = relationship(lazy="joined")

    @property
    def display_name(self) -> str:
        return self.name or self.email

    def as_actor(self) -> Actor:
        return Actor(kind="customer", id=self.id, name=self.display_name)

    def field_owner(self, field: str) -> str:
        """Who may change ``field``: "crm" once a CRM supplied it as CRM-owned, else "helpdesk"."""
        return str((self.provenance or {}).get(field, {}).get("owner", "helpdesk"))


class CustomerIdentity(Model):
    """One way to recognise a customer: an email, an E.164 phone, or a CRM's external id.

    ``namespace`` is "" for emails and phones and the source name for external ids, whose
    ``source_updated_at`` is the CRM's modification time of the record last applied (changes
    not newer than it are skipped, which makes re-reads idempotent).
    """

    __tablename__ = "customer_identity"
    # ``value`` leads: look-ups are by value, and only this order keeps PostgreSQL probing the
    # index per value during an initial load, before the table has statistics (with ``kind``
    # first it scanned every identity of a kind against the whole IN list, per page).
    __table_args__ = (UniqueConstraint("value", "kind", "namespace",
                                       name="uq_customer_identity_value_kind_namespace"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"),
                                             index=True)
    kind: Mapped[str] = mapped_column(String(20))
    namespace: Mapped[str] = mapped_column(String(60), default="")
    value: Mapped[str] = mapped_column(String(254))
    source_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerMerge(Model):
    """The audit record of merging ``loser`` into ``winner``, with what moved, so it can be undone.

    ``moved`` maps ``table.column`` to the primary keys of the rows re-pointed to the winner;
    ``winner_before`` holds the winner's profile values the merge filled in.
    """

    __tablename__ = "customer_merge"

    id: Mapped[int] = mapped_column(primary_key=True)
    winner_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    loser_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    actor_name: Mapped[str] = mapped_column(String(200))
    moved: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    winner_before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by: Mapped[str | None] = mapped_column(String(200))


class ProfileConflict(Model):
    """A CRM value that was not applied because the helpdesk owns the field or an agent edited it.

    An agent resolves it: take the CRM value, or keep ours.
    """

    __tablename__ = "profile_conflict"
    __table_args__ = (Index("ix_profile_conflict_open", "resolved_at", "customer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"),
                                             index=True)
    field: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(60))
    external_id: Mapped[str | None] = mapped_column(String(120))
    crm_value: Mapped[Any] = mapped_column(JSON)
    local_value: Mapped[Any] = mapped_column(JSON)
    #: "helpdesk_owned" or "edited_locally"
    reason: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str | None] = mapped_column(String(20))
    resolved_by: Mapped[str | None] = mapped_column(Text)
