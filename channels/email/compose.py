"""Building outgoing mail as an :class:`~email.message.EmailMessage`. Pure (no Flask, no SQL).

Every mail we send is threadable in the customer's client (Message-ID, In-Reply-To and
References per RFC 5322 §3.6.4) and carries a tokenised Reply-To, so the answer comes back
to the right ticket even from clients that drop the threading headers.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from channels.email.headers import SMTP_POLICY

#: Stamped on everything we send. Mail that comes back with it is our own (a forwarding loop,
#: a "Sent" folder configured as the inbox) and is dropped by vetting.
LOOP_HEADER = "X-Helpdesk-Loop"
#: RFC 5322 sets no limit but long References headers get truncated by some servers; the
#: root and the latest messages are what clients thread on (as RFC 5537 §3.4.4 trims them).
MAX_REFERENCES = 20


@dataclass(frozen=True, slots=True)
class OutgoingAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Draft:
    """Everything one outgoing email needs; ``message_id`` is made by the caller."""

    from_address: str
    from_name: str
    to: str
    subject: str
    text: str
    message_id: str
    mail_domain: str
    reply_to: str | None = None
    html: str | None = None
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    automatic: bool = False
    attachments: Sequence[OutgoingAttachment] = ()
    date: datetime | None = None
    cc: Sequence[str] = ()


def compose_message(draft: Draft) -> EmailMessage:
    """The MIME message for ``draft``: text + HTML alternative, then attachments."""
    message = EmailMessage(policy=SMTP_POLICY)
    message["Message-ID"] = draft.message_id
    message["Date"] = format_datetime(draft.date or datetime.now(UTC))
    message["From"] = Address(display_name=draft.from_name, addr_spec=draft.from_address)
    message["To"] = draft.to
    if draft.cc:
        message["Cc"] = ", ".join(draft.cc)
    message["Subject"] = draft.subject
    if draft.reply_to:
        message["Reply-To"] = draft.reply_to
    if draft.in_reply_to:
        message["In-Reply-To"] = draft.in_reply_to
    references = trim_references(draft.references)
    if references:
        message["References"] = " ".join(references)
    message[LOOP_HEADER] = draft.mail_domain
    if draft.automatic:
        # RFC 3834 §5: responders must not answer auto-replied mail. Exchange/Outlook
        # ignore that header but honour their own (MS-OXCMAIL 2.2.3.2.14).
        message["Auto-Submitted"] = "auto-replied"
        message["X-Auto-Response-Suppress"] = "All"
    message.set_content(draft.text)
    message.add_alternative(draft.html or text_to_html(draft.text), subtype="html")
    for attachment in draft.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        if not subtype:
            maintype, subtype = "application", "octet-stream"
        message.add_attachment(attachment.data, maintype=maintype, subtype=subtype,
                               filename=attachment.filename)
    return message


def trim_references(references: Sequence[str]) -> list[str]:
    """At most :data:`MAX_REFERENCES` ids: the thread's root plus the most recent ones."""
    unique = list(dict.fromkeys(references))
    if len(unique) <= MAX_REFERENCES:
        return unique
    return [unique[0], *unique[-(MAX_REFERENCES - 1):]]


def text_to_html(text: str) -> str:
    """An HTML rendering of plain text: escaped, paragraphs and line breaks kept."""
    paragraphs = [block for block in text.replace("\r\n", "\n").split("\n\n") if block.strip()]
    body = "".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in block.split("\n")) + "</p>\n"
        for block in paragraphs)
    return f'<!doctype html>\n<html><body>\n{body}</body></html>\n'
