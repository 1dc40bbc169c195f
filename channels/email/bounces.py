"""Recognising bounces (delivery failure reports) and what they are about. Pure.

A bounce is never a customer's message: answering it loops with the mailer daemon (faveo
#150) and opening a ticket for it buries the real news, which is that an address we wrote to
does not work. :func:`detect` finds the failed addresses and the Message-ID of the mail that
bounced, so ingest can put the failure on the ticket that sent it.

Two shapes exist. RFC 3464 delivery status notifications (``multipart/report;
report-type=delivery-status``) name each recipient with its ``Action``. Older and some large
providers' mailers send plain text instead, each in its own words; those are recognised by
the sentence their software always writes, and the failed addresses are the ones it lists
before the copy of the original mail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from channels.email.addresses import normalize_address
from channels.email.parse import ParsedEmail

_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
_ORIGINAL_TYPES = ("message/rfc822", "text/rfc822-headers", "message/global",
                   "message/global-headers")
_BOUNCE_SENDERS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")
#: The sentence each mailer writes at the top of its (non-RFC 3464) failure report.
_NON_DSN_MARKERS = re.compile(
    r"""This\s+is\s+the\s+qmail-send\s+program                                  # qmail
    | This\s+is\s+the\s+mail\s+system\s+at\s+host                               # Postfix
    | The\s+following\s+addresses\s+had\s+permanent\s+fatal\s+errors            # Sendmail
    | could\s+not\s+be\s+delivered\s+to\s+one\s+or\s+more\s+of\s+its\s+recipients  # Exim
    | Delivery\s+to\s+the\s+following\s+recipients?\s+failed\s+permanently      # Gmail (old)
    | Your\s+message\s+wasn't\s+delivered\s+to                                  # Gmail
    | Delivery\s+has\s+failed\s+to\s+these\s+recipients\s+or\s+groups           # Exchange
    | Your\s+message\s+to\s+\S+\s+couldn't\s+be\s+delivered                     # Exchange Online
    | 很抱歉您发送的邮件被退回 | 您的邮件被退回 | 邮件被退回 | 系统退信 | 退信原因  # QQ, 163/126
    | 无法发送到 | 投递失败
    """, re.IGNORECASE | re.VERBOSE)
#: Where a plain-text report starts quoting the original mail: addresses after it are the
#: original's (our own From), not failed recipients.
_ORIGINAL_COPY = re.compile(
    r"""^-*\s*(?:Below\s+this\s+line\s+is\s+a\s+copy\s+of\s+the\s+message
    | This\s+is\s+a\s+copy\s+of\s+the\s+message | Original\s+message\s+follows
    | The\s+original\s+message\s+was\s+received | Original\s+message\s+headers
    | -{2,}\s*Original\s+message | Received:\s | 原始邮件 | (?:原邮件|原信)\s*$
    | Transcript\s+of\s+session\s+follows )""",
    re.IGNORECASE | re.VERBOSE | re.MULTILINE)
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_MESSAGE_ID_HEADER = re.compile(r"^[ \t>]*Message-ID:\s*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
_FIELD = re.compile(r"^([A-Za-z-]+):\s*(.*)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Bounce:
    """A delivery failure report. ``recipients``: addresses that failed for good (empty for
    a mere delay notice); ``original_message_id``: the Message-ID of the mail that bounced."""

    recipients: tuple[str, ...]
    original_message_id: str | None
    kind: str  # "dsn" or the plain-text form


def detect(parsed: ParsedEmail) -> Bounce | None:
    """The bounce ``parsed`` is, or ``None`` when it is not one."""
    if parsed.problem:
        return None
    reports = [item for item in parsed.attachments if item.content_type in _STATUS_TYPES]
    content_type = (parsed.header("content-type") or "").lower()
    if reports or (content_type.startswith("multipart/report")
                   and "delivery-status" in content_type):
        failed = [address for report in reports
                  for address in _failed_recipients(report.data.decode("utf-8", "replace"))]
        return Bounce(tuple(dict.fromkeys(failed)), _original_message_id(parsed), "dsn")
    if _NON_DSN_MARKERS.search(parsed.text) and _from_a_mailer(parsed):
        return Bounce(_listed_recipients(parsed), _original_message_id(parsed), "text")
    return None


def _from_a_mailer(parsed: ParsedEmail) -> bool:
    # The marker sentence alone could be quoted by a customer ("I got 'could not be
    # delivered to one or more of its recipients' when..."); a real report also comes from a
    # daemon address or with the null reverse-path (RFC 5321 §4.5.5).
    local = parsed.from_addr.partition("@")[0]
    return (local in _BOUNCE_SENDERS or (parsed.header("return-path") or "").strip() == "<>"
            or not parsed.from_addr)


def _failed_recipients(report: str) -> list[str]:
    """RFC 3464 §2.3: per-recipient field groups; a recipient failed when its Action is
    "failed". Final-Recipient is the address as the reporting MTA saw it."""
    failed = []
    for block in re.split(r"\r?\n\s*\r?\n", report):
        fields = {name.lower(): value.strip() for name, value in _FIELD.findall(block)}
        if fields.get("action", "").lower() != "failed":
            continue
        recipient = fields.get("original-recipient") or fields.get("final-recipient") or ""
        # "rfc822; someone@example.com" (address-type; address)
        address = normalize_address(recipient.rpartition(";")[2])
        if address:
            failed.append(address)
    return failed


def _listed_recipients(parsed: ParsedEmail) -> tuple[str, ...]:
    text = parsed.text
    marker = _NON_DSN_MARKERS.search(text)
    start = marker.start() if marker else 0
    copy = _ORIGINAL_COPY.search(text, start)
    region = text[start:copy.start() if copy else len(text)]
    ignored = {parsed.from_addr, *parsed.to, *parsed.cc}
    found = []
    for candidate in _ADDRESS.findall(region):
        address = normalize_address(candidate)
        if (address and address not in ignored
                and address.partition("@")[0] not in _BOUNCE_SENDERS):
            found.append(address)
    return tuple(dict.fromkeys(found))


def _original_message_id(parsed: ParsedEmail) -> str | None:
    """The Message-ID of the returned original: from its attached copy (RFC 3464 §2), else
    from the headers a plain-text report quotes."""
    for item in parsed.attachments:
        if item.content_type in _ORIGINAL_TYPES:
            head = re.split(rb"\r?\n\r?\n", item.data, maxsplit=1)[0]
            found = _MESSAGE_ID_HEADER.search(head.decode("utf-8", "replace"))
            if found:
                return found.group(1)
    found = _MESSAGE_ID_HEADER.search(parsed.text)
    return found.group(1) if found else None
