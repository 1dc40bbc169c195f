"""Deciding what to do with an inbound email before it touches a ticket. Pure.

An ordered table of small rules (as Mailman's chains do): each looks at one thing and
returns a short detail when it hits. Every hit is kept with the verdict on the raw email, so
"why was this not a ticket?" and "why did they get no acknowledgement?" have an answer.

The verdict is the most severe action any rule asked for:
``accept`` < ``accept-without-autoreply`` < ``quarantine`` < ``drop``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum

from channels.email.addresses import split_plus
from channels.email.compose import LOOP_HEADER
from channels.email.parse import ParsedEmail

#: Default largest email taken in, in bytes (whole message, attachments included).
DEFAULT_MAX_BYTES = 40 * 1024 * 1024
#: New tickets from one sender within the last hour after which we stop acknowledging:
#: a responder that ignores Auto-Submitted would otherwise ping-pong with our
#: acknowledgements, one new ticket per round (FreeScout #688).
AUTOREPLY_LIMIT_PER_HOUR = 5
_BOUNCE_SENDERS = ("mailer-daemon", "postmaster")


class Action(StrEnum):
    ACCEPT = "accept"
    ACCEPT_WITHOUT_AUTOREPLY = "accept-without-autoreply"
    QUARANTINE = "quarantine"
    DROP = "drop"


_SEVERITY = {action: rank for rank, action in enumerate(Action)}


@dataclass(frozen=True, slots=True)
class Inbound:
    """What the rules look at: the parsed mail, its raw size, who "we" are, and how many
    tickets its sender opened in the last hour."""

    parsed: ParsedEmail
    size: int
    our_addresses: Collection[str]
    mail_domain: str
    max_bytes: int = DEFAULT_MAX_BYTES
    recent_tickets_from_sender: int = 0


@dataclass(frozen=True, slots=True)
class Hit:
    rule: str
    action: Action
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"rule": self.rule, "action": self.action.value, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    hits: tuple[Hit, ...]

    @property
    def allows_autoreply(self) -> bool:
        return self.action == Action.ACCEPT

    @property
    def reason(self) -> str:
        return "; ".join(f"{hit.rule}: {hit.detail}" for hit in self.hits)


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    action: Action
    check: Callable[[Inbound], str | None]


def _header(mail: Inbound, name: str) -> str:
    return (mail.parsed.header(name) or "").strip()


def _own_loop_header(mail: Inbound) -> str | None:
    stamped = [value.strip().lower() for value in mail.parsed.header_values(LOOP_HEADER)]
    return f"{LOOP_HEADER}: {mail.mail_domain}" if mail.mail_domain.lower() in stamped else None


def _from_our_address(mail: Inbound) -> str | None:
    sender = split_plus(mail.parsed.from_addr).base if mail.parsed.from_addr else ""
    ours = {split_plus(address.lower()).base for address in mail.our_addresses}
    return f"sender {sender} is one of our addresses" if sender in ours else None


def _no_sender(mail: Inbound) -> str | None:
    return None if mail.parsed.from_addr else "no valid From address"


def _bounce(mail: Inbound) -> str | None:
    # RFC 5321 §4.5.5: delivery reports are sent with a null reverse-path, which the
    # delivering server records as "Return-Path: <>". RFC 3464 reports are
    # multipart/report; report-type=delivery-status. Old MTAs only sign as MAILER-DAEMON.
    if _header(mail, "Return-Path") == "<>":
        return "null Return-Path"
    local = mail.parsed.from_addr.partition("@")[0]
    if local in _BOUNCE_SENDERS:
        return f"sent by {mail.parsed.from_addr}"
    content_type = _header(mail, "Content-Type").lower()
    if content_type.startswith("multipart/report") and "delivery-status" in content_type:
        return "delivery status notification"
    return None


def _oversize(mail: Inbound) -> str | None:
    if mail.size > mail.max_bytes:
        return f"{mail.size} bytes > limit {mail.max_bytes}"
    return None


def _auto_submitted(mail: Inbound) -> str | None:
    # RFC 3834 §5: anything but "no" was sent by a machine and must not be answered.
    value = _header(mail, "Auto-Submitted").lower()
    return f"Auto-Submitted: {value}" if value and value.split(";")[0].strip() != "no" else None


def _autoreply_headers(mail: Inbound) -> str | None:
    # Responders that predate RFC 3834 mark themselves with these.
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        if _header(mail, name):
            return f"{name} present"
    return None


def _bulk_precedence(mail: Inbound) -> str | None:
    # RFC 2076 §3.9 (non-standard, universally used by lists and responders).
    value = _header(mail, "Precedence").lower()
    return f"Precedence: {value}" if value in ("bulk", "junk", "list", "auto_reply") else None


def _mailing_list(mail: Inbound) -> str | None:
    # RFC 2919 (List-Id) and RFC 2369 (List-Unsubscribe): newsletters and list traffic.
    for name in ("List-Id", "List-Unsubscribe"):
        if _header(mail, name):
            return f"{name} present"
    return None


def _autoreply_rate(mail: Inbound) -> str | None:
    if mail.recent_tickets_from_sender >= AUTOREPLY_LIMIT_PER_HOUR:
        return f"{mail.recent_tickets_from_sender} new tickets from this sender in the last hour"
    return None


#: The rules, in order. Every rule runs (all hits are recorded); the order is the order the
#: hits are shown in, most decisive first.
RULES: tuple[Rule, ...] = (
    # Our own mail coming back (forwarding loop, "Sent" folder polled as inbox): answering
    # it would loop forever, and it is not a customer's message.
    Rule("own-loop-header", Action.DROP, _own_loop_header),
    # Mail "from" our own support address is either a loop or spoofed; never a customer.
    Rule("from-own-address", Action.DROP, _from_our_address),
    # Without a sender there is nobody to open a ticket for; an admin looks at it.
    Rule("no-sender", Action.QUARANTINE, _no_sender),
    # Bounces need an admin (the address may be wrong), not a ticket and an acknowledgement
    # that would bounce again.
    Rule("bounce", Action.QUARANTINE, _bounce),
    # Too big to store as a ticket; the raw mail (or its headers) is kept for an admin.
    Rule("oversize", Action.QUARANTINE, _oversize),
    # Machine-written mail may carry real content (an out-of-office naming a colleague) but
    # must never be answered automatically: two responders answering each other is a loop.
    Rule("auto-submitted", Action.ACCEPT_WITHOUT_AUTOREPLY, _auto_submitted),
    Rule("autoreply-header", Action.ACCEPT_WITHOUT_AUTOREPLY, _autoreply_headers),
    Rule("bulk-precedence", Action.ACCEPT_WITHOUT_AUTOREPLY, _bulk_precedence),
    Rule("mailing-list", Action.ACCEPT_WITHOUT_AUTOREPLY, _mailing_list),
    # The last guard against loops with responders that mark themselves in no way at all.
    Rule("autoreply-rate", Action.ACCEPT_WITHOUT_AUTOREPLY, _autoreply_rate),
)


def vet(mail: Inbound, rules: tuple[Rule, ...] = RULES) -> Verdict:
    """Run every rule; the verdict is the most severe action among the hits."""
    hits = []
    for rule in rules:
        detail = rule.check(mail)
        if detail is not None:
            hits.append(Hit(rule.name, rule.action, detail))
    action = max((hit.action for hit in hits), key=_SEVERITY.__getitem__, default=Action.ACCEPT)
    return Verdict(action, tuple(hits))
