"""Deciding what to do with an inbound email before it touches a ticket. Pure.

An ordered table of small rules (as Mailman's chains do): each looks at one thing and
returns a short detail when it hits. Every hit is kept with the verdict on the raw email, so
"why was this not a ticket?" and "why did they get no acknowledgement?" have an answer.

Mail the parser could not read is quarantined with the parser's reason ("unreadable") before
any rule runs. Otherwise the verdict is the most severe action any rule asked for:
``accept`` < ``accept-without-autoreply`` < ``quarantine`` < ``drop``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum

from channels.email.addresses import split_plus
from channels.email.bounces import detect as detect_bounce
from channels.email.compose import LOOP_HEADER
from channels.email.parse import ParsedEmail

#: Default largest email taken in, in bytes (whole message, attachments included).
DEFAULT_MAX_BYTES = 40 * 1024 * 1024
#: New tickets from one sender within the last hour after which we stop acknowledging:
#: a responder that ignores Auto-Submitted would otherwise ping-pong with our
#: acknowledgements, one new ticket per round (FreeScout #688).
AUTOREPLY_LIMIT_PER_HOUR = 5
_BOUNCE_SENDERS = ("mailer-daemon", "postmaster")
#: Subjects responders give their notices, in the languages our customers write (Outlook,
#: Exchange, Gmail vacation responder, QQ/163/Foxmail "自动回复", Lotus Notes, ...).
_OUT_OF_OFFICE_SUBJECT = re.compile(
    r"""^\s*(?:
        auto(?:matic|matische)?[\s_-]*(?:reply|response|antwort)
        | auto[\s_-]*(?:reply|response|réponse)
        | out\s+of\s+(?:the\s+)?office | \bOOO\b | on\s+vacation | away\s+from\s+(?:the\s+)?office
        | abwesenheitsnotiz | réponse\s+automatique | respuesta\s+automática
        | 自动回复 | 自動回覆 | 自動回复 | 自动答复 | 不在办公室 | (?:休假|外出)(?:中|通知|自动)
    )""", re.IGNORECASE | re.VERBOSE)


class Action(StrEnum):
    ACCEPT = "accept"
    ACCEPT_WITHOUT_AUTOREPLY = "accept-without-autoreply"
    QUARANTINE = "quarantine"
    DROP = "drop"


_SEVERITY = {action: rank for rank, action in enumerate(Action)}


@dataclass(frozen=True, slots=True)
class Context:
    """What the rules need besides the mail: its raw size, who "we" are, the senders admins
    blocked, and how many tickets the sender opened in the last hour."""

    size: int = 0
    our_addresses: Collection[str] = ()
    mail_domain: str = ""
    max_bytes: int = DEFAULT_MAX_BYTES
    recent_tickets_from_sender: int = 0
    #: Whole addresses (``spam@example.com``) or domains (``@example.com``), lower case.
    blocked_senders: Collection[str] = ()


@dataclass(frozen=True, slots=True)
class Inbound:
    """One mail as the rules see it."""

    parsed: ParsedEmail
    context: Context


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
    domain = mail.context.mail_domain.lower()
    stamped = [value.strip().lower() for value in mail.parsed.header_values(LOOP_HEADER)]
    return f"{LOOP_HEADER}: {domain}" if domain and domain in stamped else None


def _from_our_address(mail: Inbound) -> str | None:
    sender = split_plus(mail.parsed.from_addr).base if mail.parsed.from_addr else ""
    ours = {split_plus(address.lower()).base for address in mail.context.our_addresses}
    return f"sender {sender} is one of our addresses" if sender in ours else None


def _blocked_sender(mail: Inbound) -> str | None:
    sender = mail.parsed.from_addr
    if not sender:
        return None
    domain = "@" + sender.partition("@")[2]
    for entry in mail.context.blocked_senders:
        if entry in (sender, domain, domain[1:]):
            return f"{sender} matches blocked sender {entry}"
    return None


def _no_sender(mail: Inbound) -> str | None:
    return None if mail.parsed.from_addr else "no valid From address"


def _bounce(mail: Inbound) -> str | None:
    # RFC 3464 reports and the plain-text reports of older mailers (see bounces.py); RFC 5321
    # §4.5.5: delivery reports are sent with a null reverse-path, which the delivering server
    # records as "Return-Path: <>". Old MTAs only sign as MAILER-DAEMON.
    bounce = detect_bounce(mail.parsed)
    if bounce is not None:
        failed = ", ".join(bounce.recipients) or "no permanent failure"
        return f"delivery report ({bounce.kind}): {failed}"
    if _header(mail, "Return-Path") == "<>":
        return "null Return-Path"
    local = mail.parsed.from_addr.partition("@")[0]
    if local in _BOUNCE_SENDERS:
        return f"sent by {mail.parsed.from_addr}"
    return None


def _oversize(mail: Inbound) -> str | None:
    if mail.context.size > mail.context.max_bytes:
        return f"{mail.context.size} bytes > limit {mail.context.max_bytes}"
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


def _auto_response_suppressed(mail: Inbound) -> str | None:
    # MS-OXCMAIL 2.2.3.2.14: the sender asks for no automatic answers (Exchange sets it on
    # its own notices and out-of-office replies).
    value = _header(mail, "X-Auto-Response-Suppress").lower()
    wanted = {token.strip() for token in value.split(",")}
    return (f"X-Auto-Response-Suppress: {value}"
            if wanted & {"all", "autoreply", "oof"} else None)


def _out_of_office_subject(mail: Inbound) -> str | None:
    # Many responders (QQ, 163, older Exchange, phones) set no header at all; their subject
    # is the only mark.
    subject = mail.parsed.subject
    return f"subject {subject[:80]!r}" if _OUT_OF_OFFICE_SUBJECT.search(subject) else None


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
    recent = mail.context.recent_tickets_from_sender
    if recent >= AUTOREPLY_LIMIT_PER_HOUR:
        return f"{recent} new tickets from this sender in the last hour"
    return None


#: The rules, in order. Every rule runs (all hits are recorded); the order is the order the
#: hits are shown in, most decisive first.
RULES: tuple[Rule, ...] = (
    # Our own mail coming back (forwarding loop, "Sent" folder polled as inbox): answering
    # it would loop forever, and it is not a customer's message.
    Rule("own-loop-header", Action.DROP, _own_loop_header),
    # Mail "from" our own support address is either a loop or spoofed; never a customer.
    Rule("from-own-address", Action.DROP, _from_our_address),
    # Senders an admin blocked (spammers, a broken system mailing us in a loop).
    Rule("blocked-sender", Action.DROP, _blocked_sender),
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
    Rule("auto-response-suppress", Action.ACCEPT_WITHOUT_AUTOREPLY, _auto_response_suppressed),
    Rule("out-of-office", Action.ACCEPT_WITHOUT_AUTOREPLY, _out_of_office_subject),
    Rule("bulk-precedence", Action.ACCEPT_WITHOUT_AUTOREPLY, _bulk_precedence),
    Rule("mailing-list", Action.ACCEPT_WITHOUT_AUTOREPLY, _mailing_list),
    # The last guard against loops with responders that mark themselves in no way at all.
    Rule("autoreply-rate", Action.ACCEPT_WITHOUT_AUTOREPLY, _autoreply_rate),
)


def vet(parsed: ParsedEmail, context: Context | None = None,
        rules: tuple[Rule, ...] = RULES) -> Verdict:
    """Run every rule on ``parsed``; the verdict is the most severe action among the hits."""
    mail = Inbound(parsed, context or Context())
    if parsed.problem:
        # Every other rule would only report the emptiness of a mail that was not read.
        return Verdict(Action.QUARANTINE, (Hit("unreadable", Action.QUARANTINE, parsed.problem),))
    hits = []
    for rule in rules:
        detail = rule.check(mail)
        if detail is not None:
            hits.append(Hit(rule.name, rule.action, detail))
    action = max((hit.action for hit in hits), key=_SEVERITY.__getitem__, default=Action.ACCEPT)
    return Verdict(action, tuple(hits))
