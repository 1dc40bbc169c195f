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
    """One email to a customer about a ticket.

    ``message_id`` is the ticket message this mail carries (an agent reply), if any.
    ``automatic`` marks mail no human wrote (acknowledgements, surveys): it is sent with
    ``Auto-Submitted: auto-replied`` so auto-responders do not answer it.
    """

    ticket_id: int
    to: str
    subject: str
    text: str
    html: str | None = None
    message_id: int | None = None
    automatic: bool = False
    attachment_ids: tuple[int, ...] = field(default=())


class OutboundMail(Protocol):
    def send(self, mail: OutgoingMail) -> str:
        """Queue ``mail`` durably in the current transaction; return its RFC 5322 Message-ID.

        Delivery happens after commit; nothing is sent if the transaction rolls back.
        """
        ...


class _LoggingMail:
    def send(self, mail: OutgoingMail) -> str:
        log.warning("no mail channel installed; not sending %r to ticket %s", mail.subject,
                    mail.ticket_id)
        return ""


def register_outbound_mail(app: object, implementation: OutboundMail) -> None:
    app.extensions[_OUTBOUND_MAIL_KEY] = implementation  # type: ignore[attr-defined]


def outbound_mail() -> OutboundMail:
    implementation: OutboundMail = current_app.extensions.get(_OUTBOUND_MAIL_KEY, _LoggingMail())
    return implementation
