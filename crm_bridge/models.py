"""CRM bridge tables: sources, their watermarks and sync runs, and the review list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.db import Model, UTCDateTime, utcnow

#: Source names are stored here and on ``Customer.profile_source``; both hold 60 characters.
SOURCE_NAME_MAX = 60


class CrmSource(Model):
    """A CRM (or export, database, endpoint) admins connected, with its mapping and schedule.

    ``settings`` is shown to admins; ``secrets`` (tokens, passwords, webhook keys) is merged
    into it only when the adapter is built and never rendered on a page.
    """

    __tablename__ = "crm_source"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(SOURCE_NAME_MAX), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secrets: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Link to a record in the CRM, e.g. "https://crm.example.com/contacts/{external_id}".
    record_url_template: Mapped[str | None] = mapped_column(String(500))
    schedule_minutes: Mapped[int] = mapped_column(default=15)
    sweep_hours: Mapped[int] = mapped_column(default=24)
    enabled: Mapped[bool] = mapped_column(default=True)
    #: "ok", or "failing" after an error an admin must fix (bad credentials, bad query).
    status: Mapped[str] = mapped_column(String(20), default="ok")
    last_error: Mapped[str | None] = mapped_column(Text)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sweep_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Embedded mode's lock: the holder and until when (a crashed holder's lease runs out).
    lease_holder: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CrmWatermark(Model):
    """Where the next incremental pull starts, per source and object type (adapter's JSON)."""

    __tablename__ = "crm_watermark"
    __table_args__ = (UniqueConstraint("source_id", "object_type",
                                       name="uq_crm_watermark_source_object"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("crm_source.id", ondelete="CASCADE"))
    object_type: Mapped[str] = mapped_column(String(40), default="customer")
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CrmSyncRun(Model):
    """One sync of one source: when, what it did, and how it ended."""

    __tablename__ = "crm_sync_run"
    __table_args__ = (Index("ix_crm_sync_run_source_started", "source_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("crm_source.id", ondelete="CASCADE"))
    #: "incremental", "full", "hint" (webhook) or "sweep"
    mode: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: "running", "ok", "failed", "rate_limited", "retrying"
    status: Mapped[str] = mapped_column(String(20), default="running")
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    deleted: Mapped[int] = mapped_column(default=0)
    conflicts: Mapped[int] = mapped_column(default=0)
    review: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)


class CrmReviewItem(Model):
    """A source record that did not map, kept whole so it can be fixed and replayed.

    ``record_hash`` identifies the raw record, so importing the same export twice does not
    list the same bad record twice; ``row_number`` is where it was seen most recently;
    ``external_id`` (records from a CRM's API, not file rows) lets a replay read the record
    again from the CRM. ``resolution`` says how it left the list: "resolved" (an admin said
    so), "replayed" (it mapped on a replay), "superseded" (the CRM's current version replaced
    it) or "gone" (the CRM no longer has it).
    """

    __tablename__ = "crm_review_item"
    __table_args__ = (Index("ix_crm_review_item_source_hash", "source", "record_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(SOURCE_NAME_MAX))
    row_number: Mapped[int]
    raw_record: Mapped[Any] = mapped_column(JSON)
    record_hash: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    resolution: Mapped[str | None] = mapped_column(String(20))


class CrmPushOutbox(Model):
    """A service event to write to a CRM as an activity, kept until the CRM has it.

    Unique per source and idempotency key, so the same event recorded twice is pushed once;
    ``status`` is "pending", "sent" (``external_record_id`` holds the CRM's record id) or
    "failed" (``last_error`` says why; admins see it on the source page and as a failed job).
    """

    __tablename__ = "crm_push_outbox"
    __table_args__ = (UniqueConstraint("source_id", "idempotency_key",
                                       name="uq_crm_push_outbox_source_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("crm_source.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket.id", ondelete="SET NULL"), index=True)
    #: The InteractionEvent's fields as JSON (times as ISO 8601).
    event: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    external_record_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
