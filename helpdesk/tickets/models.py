from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.db import Model, UTCDateTime, utcnow

if TYPE_CHECKING:
    from helpdesk.auth.models import Agent
    from helpdesk.customers.models import Customer
    from helpdesk.teams.models import Team

STATUSES = ("new", "open", "pending", "on-hold", "solved", "closed")
#: Statuses in which the ticket still needs work from the team.
UNRESOLVED_STATUSES = ("new", "open", "pending", "on-hold")
PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("email", "web")


class Ticket(Model):
    """One conversation with a customer."""

    __tablename__ = "ticket"
    __table_args__ = (
        Index("ix_ticket_status_updated", "status", "updated_at", "id"),
        Index("ix_ticket_team_status_updated", "team_id", "status", "updated_at", "id"),
        Index("ix_ticket_assignee_status_updated", "assignee_id", "status", "updated_at", "id"),
        Index("ix_ticket_customer_created", "customer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(500))
    # ``active_history``: the old value is loaded when set, so the open-ticket counter per
    # agent (helpdesk.automation.loads) can move a ticket from one count to the other.
    status: Mapped[str] = mapped_column(String(20), default="new", active_history=True)
    priority: Mapped[str] = mapped_column(String(20), default="normal")
    channel: Mapped[str] = mapped_column(String(20))
    #: Where within the channel it arrived (the mailbox address, the form); routing reads it.
    origin: Mapped[str | None] = mapped_column(String(254))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Admin-defined fields by key; SLA conditions and routing rules may read them.
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"),
                                                    active_history=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sla_policy_name: Mapped[str | None] = mapped_column(String(120))
    first_reply_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    solved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Set when this ticket was merged into another: its messages now live there.
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket.id", ondelete="SET NULL"))

    customer: Mapped[Customer] = relationship(lazy="joined")
    team: Mapped[Team | None] = relationship(lazy="joined")
    assignee: Mapped[Agent | None] = relationship(lazy="joined")
    messages: Mapped[list[Message]] = relationship(
        back_populates="ticket", order_by="Message.id", cascade="all, delete-orphan")
    participants: Mapped[list[TicketParticipant]] = relationship(
        order_by="TicketParticipant.id", cascade="all, delete-orphan", lazy="selectin")

    @property
    def reference(self) -> str:
        return f"#{self.id}"


class Message(Model):
    """A customer message, a public agent reply, or an internal note."""

    __tablename__ = "message"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"),
                                           index=True)
    #: "customer" (inbound), "reply" (public agent reply), "note" (internal)
    kind: Mapped[str] = mapped_column(String(20))
    author_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id"))
    author_customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    body_text: Mapped[str] = mapped_column(Text, default="")
    #: Already sanitised with nh3's allow-list; still shown in a sandboxed iframe.
    body_html: Mapped[str | None] = mapped_column(Text)
    #: The whole text as it arrived, when ``body_text`` is only its new part (the quoted
    #: history and signature of an email reply removed); shown on request.
    body_full: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(20))
    #: RFC 5322 Message-ID of the email that carried this message, ours or the customer's.
    rfc_message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    #: Where the original lives in the channel that brought it (e.g. "raw_email:42").
    source_ref: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="messages")
    author_agent: Mapped[Agent | None] = relationship(lazy="joined")
    author_customer: Mapped[Customer | None] = relationship(lazy="joined")
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="message", lazy="selectin", cascade="all, delete-orphan")

    @property
    def is_public(self) -> bool:
        return self.kind != "note"


class Attachment(Model):
    """A file on a message. Stored under a random name; served only as a checked download."""

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"),
                                            index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int]
    storage_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_id: Mapped[str | None] = mapped_column(String(255))
    inline: Mapped[bool] = mapped_column(default=False)

    message: Mapped[Message] = relationship(back_populates="attachments")


class TicketParticipant(Model):
    """Someone besides the requester who takes part in a ticket's conversation (a colleague
    in CC). Their mail with the ticket's ``[#n]`` tag is trusted like the requester's."""

    __tablename__ = "ticket_participant"
    __table_args__ = (UniqueConstraint("ticket_id", "customer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"),
                                           index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    customer: Mapped[Customer] = relationship(lazy="joined")


class TicketEvent(Model):
    """One entry of a ticket's history: who changed what, from what, to what, when."""

    __tablename__ = "ticket_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"),
                                           index=True)
    actor_kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None]
    actor_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(String(500))
    new_value: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    #: Set instead of ``ticket_id`` when the ticket may not be written yet: the event's row
    #: then goes in with the ticket's, in the same flush (no back-reference: a ticket never
    #: loads its whole history to add to it).
    ticket: Mapped[Ticket] = relationship()
