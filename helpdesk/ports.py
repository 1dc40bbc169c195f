"""Capabilities the core needs from outer packages, as Protocols they register.

The core never imports a channel. A channel registers its implementation in its ``init_app``;
the core looks it up here. Without a registered implementation the core still works and logs
what it could not send (useful for installations with no email channel).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from flask import current_app

log = logging.getLogger(__name__)

_OUTBOUND_MAIL_KEY = "helpdesk.outbound_mail"


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """One email about a ticket: to a customer, or to an agent (a notification).

    ``message_id`` is the ticket message this mail carries (an agent reply), if any: such a
    mail goes to the whole conversation, the requester (``to``) with the ticket's
    participants on Cc as :meth:`OutboundMail.reply_recipients` tells.
    ``automatic`` marks mail no human wrote (acknowledgements, surveys): it is sent with
    ``Auto-Submitted: auto-replied`` so auto-responders do not answer it.
    ``reply_as_agent_id`` marks mail to that agent (``to`` is their address): the channel
    makes answering it their public reply on the ticket, and says where an internal note
    goes; only mail from the agent's own address is taken as theirs.
    """

    ticket_id: int
    to: str
    subject: str
    text: str
    html: str | None = None
    message_id: int | None = None
    automatic: bool = False
    attachment_ids: tuple[int, ...] = field(default=())
    reply_as_agent_id: int | None = None


@dataclass(frozen=True, slots=True)
class Recipients:
    """Who a reply on a ticket is mailed to; ``to`` is empty when it is mailed to nobody."""

    to: str
    cc: tuple[str, ...] = ()


class OutboundMail(Protocol):
    def send(self, mail: OutgoingMail) -> str:
        """Queue ``mail`` durably in the current transaction; return its RFC 5322 Message-ID.

        Delivery happens after commit; nothing is sent if the transaction rolls back.
        """
        ...

    def reply_recipients(self, ticket_id: int) -> Recipients:
        """Who an agent's reply on the ticket goes to, for the reply form to show."""
        ...


class _LoggingMail:
    def send(self, mail: OutgoingMail) -> str:
        log.warning("no mail channel installed; not sending %r to ticket %s", mail.subject,
                    mail.ticket_id)
        return ""

    def reply_recipients(self, ticket_id: int) -> Recipients:
        return Recipients(to="")


def register_outbound_mail(app: object, implementation: OutboundMail) -> None:
    app.extensions[_OUTBOUND_MAIL_KEY] = implementation  # type: ignore[attr-defined]


def outbound_mail() -> OutboundMail:
    implementation: OutboundMail = current_app.extensions.get(_OUTBOUND_MAIL_KEY, _LoggingMail())
    return implementation
