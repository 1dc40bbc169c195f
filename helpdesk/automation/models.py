from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.db import Model, UTCDateTime, utcnow

#: What a time-based automation does to a ticket that has waited long enough.
AUTOMATION_ACTIONS = ("remind", "solve", "close")


class RoutingRule(Model):
    """One event-condition-action rule; lines in :mod:`helpdesk.tickets.routing` syntax."""

    __tablename__ = "routing_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(index=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    on_created: Mapped[bool] = mapped_column(default=True)
    on_updated: Mapped[bool] = mapped_column(default=False)
    conditions: Mapped[list[str]] = mapped_column(JSON, default=list)
    actions: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TeamAssignment(Model):
    """How a team hands out tickets, and whose turn it is (the round-robin pointer).

    The row is locked while a ticket of the team is assigned, so concurrent assignments take
    turns instead of both choosing the same "next" agent.
    """

    __tablename__ = "team_assignment"

    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"),
                                         primary_key=True)
    strategy: Mapped[str] = mapped_column(String(20), default="round_robin")
    #: Assign the team's unassigned tickets without a rule asking for it.
    auto_assign: Mapped[bool] = mapped_column(default=False)
    last_agent_id: Mapped[int | None]


class TimeAutomation(Model):
    """Do something to tickets that stayed in ``status`` for ``after_hours`` without activity."""

    __tablename__ = "time_automation"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    enabled: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(20))
    after_hours: Mapped[int]
    action: Mapped[str] = mapped_column(String(20))
    #: Mailed to the customer (remind, solve); empty sends nothing.
    message: Mapped[str] = mapped_column(Text, default="")


class AutomationStamp(Model):
    """An automation ran on a ticket for the activity at ``since``: never again for it."""

    __tablename__ = "automation_stamp"
    __table_args__ = (
        UniqueConstraint("automation_id", "ticket_id", "since",
                         name="uq_automation_stamp_automation_ticket_since"),
        Index("ix_automation_stamp_ticket", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    automation_id: Mapped[int] = mapped_column(
        ForeignKey("time_automation.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    #: The ticket's last activity the automation measured from.
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AgentLoad(Model):
    """How many unresolved tickets are assigned to an agent, kept by :mod:`.loads` in the
    transaction of every ticket write, so an assignment decision reads 50 rows instead of
    counting the whole backlog."""

    __tablename__ = "agent_load"

    agent_id: Mapped[int] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"),
                                          primary_key=True)
    open_tickets: Mapped[int] = mapped_column(default=0)
