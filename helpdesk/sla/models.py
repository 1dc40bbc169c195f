"""SLA rows: calendars and policies admins edit; each ticket's policy choice, ledger and clocks.

The ledger (:class:`SlaSegment`) records the periods a ticket spent in each status category;
it does not depend on any policy, so clocks can always be re-measured from it. Each clock row
keeps its evaluated due instant and the instant of its next escalation step in indexed
columns: the sweep reads only clocks whose next step is due, never all open tickets.

A new ticket's SLA rows are made before the ticket is written; they refer to it through a
``ticket`` relationship (not an id it does not have yet), so one flush writes them all.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.db import Model, UTCDateTime, utcnow

if TYPE_CHECKING:
    from helpdesk.tickets.models import Ticket


class SlaCalendar(Model):
    """A business calendar: weekly hours in a timezone, public holidays, exceptions."""

    __tablename__ = "sla_calendar"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    #: Seven lists (Monday first) of [start, end] minutes from the day's local midnight.
    weekly_hours: Mapped[list[list[list[int]]]] = mapped_column(JSON)
    holiday_country: Mapped[str | None] = mapped_column(String(8))
    holiday_subdivision: Mapped[str | None] = mapped_column(String(16))
    #: ISO dates.
    closed_dates: Mapped[list[str]] = mapped_column(JSON, default=list)
    extra_working_days: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SlaPolicy(Model):
    """An ordered SLA policy; the first active one whose conditions match a ticket applies.

    ``conditions``, ``targets``, ``pauses`` and ``escalations`` are the JSON documents that
    :mod:`helpdesk.sla.policy` parses (see its ``parse_*`` functions).
    """

    __tablename__ = "sla_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    calendar_id: Mapped[int | None] = mapped_column(
        ForeignKey("sla_calendar.id", ondelete="SET NULL"))
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    targets: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    pauses: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    warn_share: Mapped[float | None]
    escalations: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    calendar: Mapped[SlaCalendar | None] = relationship(lazy="joined")


class SlaTicket(Model):
    """Which policy a ticket runs under and why (every verdict of the ordered choice)."""

    __tablename__ = "sla_ticket"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"),
                                           primary_key=True)
    policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("sla_policy.id", ondelete="SET NULL"), index=True)
    explanation: Mapped[list[Any]] = mapped_column(JSON, default=list)
    chosen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket: Mapped[Ticket] = relationship()


class SlaSegment(Model):
    """The ticket sat in status ``category`` from ``started_at`` to ``ended_at`` (open: now)."""

    __tablename__ = "sla_segment"
    __table_args__ = (Index("ix_sla_segment_ticket_started", "ticket_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    ticket: Mapped[Ticket] = relationship()


class SlaClock(Model):
    """One clock of a ticket (next reply and periodic update get a row per cycle).

    ``status``: running, paused, met, breached, or none (the policy sets no target).
    ``escalation_step``: the last escalation step done (0 none, 1 the warning, 2.. the breach
    levels); ``next_action_at``: when the next step is due (None: nothing more to do).
    """

    __tablename__ = "sla_clock"
    __table_args__ = (
        Index("ix_sla_clock_ticket_kind", "ticket_id", "kind"),
        Index("ix_sla_clock_next_action_at", "next_action_at"),
        Index("ix_sla_clock_due_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10), default="running")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    target_minutes: Mapped[int | None]
    elapsed_seconds: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalation_step: Mapped[int] = mapped_column(default=0)
    next_action_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    ticket: Mapped[Ticket] = relationship()


class SlaTeamLead(Model):
    """Whom "notify the team lead" escalations reach for a team."""

    __tablename__ = "sla_team_lead"

    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"),
                                         primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"))
