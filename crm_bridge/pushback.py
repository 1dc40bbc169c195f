"""Push-back: service events written to the customer's CRM as activities, through an outbox.

When a ticket is created or solved, or its survey answered, and the customer's profile came
from a source whose adapter can write (``capabilities.can_push``), an outbox row is written
in the same transaction as the event, keyed by an idempotency key that names the event (the
same event recorded twice is one row, so one CRM activity). After commit a job on the "crm"
queue calls the adapter's ``push_interaction``:

* success stores the CRM's record id;
* throttling or a transient failure is retried with backoff (the vendor's wait when it gives
  one), up to :data:`MAX_ATTEMPTS`;
* anything else, or running out of attempts, marks the row "failed" and records a job failure,
  so admins see it on the failed-jobs page and in :func:`crm_bridge.queries.failed_pushes`.

The job itself never raises for CRM errors: its retries are its own, so the same code works
under every job runner.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from flask import Flask
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult

from crm_bridge.contract import (
    CrmError,
    CrmSink,
    InteractionEvent,
    RateLimited,
    TransientError,
)
from crm_bridge.models import CrmPushOutbox, CrmSource
from crm_bridge.sync import adapter_for
from helpdesk import jobs
from helpdesk.db import db, utcnow
from helpdesk.jobs import JobFailure
from helpdesk.signals import survey_answered, ticket_created, ticket_solved
from helpdesk.tickets.models import Ticket
from helpdesk.urls import public_url

DELIVER_TASK = "crm_bridge.pushback.deliver_push"
MAX_ATTEMPTS = 6
BACKOFF_SECONDS = (10, 30, 120, 600, 1800)
MAX_WAIT_SECONDS = 6 * 3600  # a daily limit waits for its reset, but not for days

Kind = Literal["ticket_created", "ticket_solved", "csat_submitted"]


def connect_pushback(app: Flask) -> None:
    ticket_created.connect(_on_ticket_created)
    ticket_solved.connect(_on_ticket_solved)
    survey_answered.connect(_on_survey_answered)


def _on_ticket_created(ticket: Ticket, **_: Any) -> None:
    record_interaction(ticket, "ticket_created", f"ticket:{ticket.id}:created",
                       f"[{ticket.reference}] {ticket.subject}")


def _on_ticket_solved(ticket: Ticket, **_: Any) -> None:
    solved_at = ticket.solved_at or utcnow()
    # A ticket solved again after reopening is a new event; the instant tells them apart.
    record_interaction(ticket, "ticket_solved",
                       f"ticket:{ticket.id}:solved:{solved_at.isoformat(timespec='seconds')}",
                       f"[{ticket.reference}] solved: {ticket.subject}")


def _on_survey_answered(ticket: Ticket | None, *, rating: int, comment: str | None = None,
                        **_: Any) -> None:
    if ticket is None:
        return
    # The same rating submitted twice is one event; a revised rating is a new one.
    record_interaction(ticket, "csat_submitted", f"ticket:{ticket.id}:csat:{rating}",
                       f"[{ticket.reference}] satisfaction {rating}", body=comment or "",
                       csat_score=rating)


def record_interaction(ticket: Ticket, kind: Kind, key: str, subject: str, *, body: str = "",
                       csat_score: int | None = None) -> CrmPushOutbox | None:
    """Queue ``kind`` for the customer's CRM if it takes activities. Idempotent per ``key``:
    the existing outbox row is returned and nothing is queued again. Flushes, never commits."""
    customer = ticket.customer
    if not (customer and customer.profile_source and customer.external_id):
        return None
    source = db.session.scalar(select(CrmSource).where(
        CrmSource.name == customer.profile_source, CrmSource.enabled.is_(True)))
    if source is None or not adapter_for(source).capabilities.can_push:
        return None
    existing = _outbox_row(source.id, key)
    if existing is not None:
        return existing
    event = {"idempotency_key": key, "customer_external_id": customer.external_id,
             "kind": kind, "occurred_at": utcnow().isoformat(), "subject": subject[:255],
             "body": body, "csat_score": csat_score,
             "ticket_url": public_url("tickets.show", ticket_id=ticket.id)}
    # INSERT .. ON CONFLICT DO NOTHING: a concurrent unit of work recording the same event
    # must neither fail nor make a second row.
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" \
        else sqlite.insert
    result: CursorResult[Any] = db.session.execute(insert(CrmPushOutbox).values(  # type: ignore[assignment]
        source_id=source.id, idempotency_key=key, ticket_id=ticket.id, event=event,
        status="pending", attempts=0, created_at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["source_id", "idempotency_key"]))
    row = _outbox_row(source.id, key)
    if result.rowcount and row is not None:
        jobs.enqueue(DELIVER_TASK, row.id, queue="crm")
    return row


def _outbox_row(source_id: int, key: str) -> CrmPushOutbox | None:
    return db.session.scalar(select(CrmPushOutbox).where(
        CrmPushOutbox.source_id == source_id, CrmPushOutbox.idempotency_key == key))


def deliver_push(outbox_id: int) -> None:
    """Job: push one outbox row to its CRM. Safe to run twice: a row no longer pending is
    left alone, and adapters converge repeated pushes of one key on one CRM record."""
    row = db.session.get(CrmPushOutbox, outbox_id)
    if row is None or row.status != "pending":
        return
    source = db.session.get(CrmSource, row.source_id)
    if source is None:
        return
    row.attempts += 1
    try:
        sink = adapter_for(source)
        if not isinstance(sink, CrmSink):
            raise CrmError(f"{source.kind} cannot record activities")
        result = sink.push_interaction(_event(row.event))
    except (RateLimited, TransientError) as error:
        row.last_error = f"{type(error).__name__}: {error}"
        if row.attempts >= MAX_ATTEMPTS:
            _fail(row, source)
        else:
            jobs.enqueue(DELIVER_TASK, row.id, queue="crm", delay=_wait(error, row.attempts))
    except CrmError as error:
        row.last_error = f"{type(error).__name__}: {error}"
        _fail(row, source)
    else:
        row.status, row.sent_at = "sent", utcnow()
        row.external_record_id, row.last_error = result.external_record_id, None
    db.session.flush()


def _wait(error: CrmError, attempt: int) -> float:
    if isinstance(error, RateLimited):
        return min(error.retry_after_s, MAX_WAIT_SECONDS)
    return BACKOFF_SECONDS[min(attempt - 1, len(BACKOFF_SECONDS) - 1)]


def _fail(row: CrmPushOutbox, source: CrmSource) -> None:
    row.status = "failed"
    db.session.add(JobFailure(
        task=DELIVER_TASK, queue="crm", arguments=f"[{row.id}]",
        error=f"CRM push to {source.name} ({row.idempotency_key}) failed after "
              f"{row.attempts} attempt(s): {row.last_error}"))


def _event(data: dict[str, Any]) -> InteractionEvent:
    return InteractionEvent(**{**data, "occurred_at": datetime.fromisoformat(data["occurred_at"])})
