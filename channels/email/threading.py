"""Which ticket an inbound email belongs to. Pure: lookups are passed in as callables.

Our outgoing mail carries a *signed reply token* naming its ticket, twice: in our Message-ID
(``<t42.k3j9x0a1b2c3.5f0c2a9e81d4b7c6@mail.domain>``, which replies quote in In-Reply-To
and References) and in a plus-addressed Reply-To (``support+t42.5f0c2a9e81d4b7c6@...``).
The signature is an HMAC-SHA256 with a key derived from the app secret, so a token cannot be
made up: knowing ticket numbers is not enough to write into someone's ticket (the FreeScout
CVE-2026-47123 class of bug trusted the shape of a Message-ID without its HMAC).

A customer token says which ticket a mail belongs to, never who wrote it. Agents answer by
email only through an *agent token* (``support+t42.a7.note.<hmac>@...``), which names the
ticket, the agent and what the mail becomes (a public reply or an internal note), is signed
for a different purpose than customer tokens, and is handed out only in the notification
mail sent to that agent. Ingest also requires the mail to come from that agent's address, so
neither a forged From (FreeScout CVE-2026-47123) nor a forwarded notification is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

from channels.email.addresses import normalize_address, split_plus, with_plus_tag
from channels.email.parse import ParsedEmail

#: 16 hex digits = 64 bits of HMAC: far beyond online guessing, short enough for a local part.
SIGNATURE_LENGTH = 16
_KEY_PURPOSE = b"channels.email.threading reply token v1"
_TOKEN = re.compile(r"^t(?P<ticket>[1-9][0-9]{0,17})\.(?P<signature>[0-9a-f]{16})$")
_OUR_MESSAGE_ID = re.compile(
    r"^<t(?P<ticket>[1-9][0-9]{0,17})\.(?P<nonce>[0-9a-z]{8,32})\.(?P<signature>[0-9a-f]{16})"
    r"@(?P<domain>[^<>@\s]+)>$")
_AGENT_TOKEN = re.compile(
    r"^t(?P<ticket>[1-9][0-9]{0,17})\.a(?P<agent>[1-9][0-9]{0,17})\.(?P<action>reply|note)"
    r"\.(?P<signature>[0-9a-f]{16})$")
#: Prefix of what an agent token signs: a customer token's HMAC can never pass as one.
_AGENT_PAYLOAD = "agent:"
AGENT_ACTIONS = ("reply", "note")
_SUBJECT_TAG = re.compile(r"\[#(?P<ticket>[1-9][0-9]{0,17})\]")
#: Envelope recipients as delivery agents record them: a reply address the customer put in
#: Bcc shows up only there.
_ENVELOPE_HEADERS = ("delivered-to", "x-original-to")


def _signature(secret: str, payload: str) -> str:
    # A derived key keeps the app secret from being used raw for a second purpose.
    key = hmac.new(secret.encode(), _KEY_PURPOSE, hashlib.sha256).digest()
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()[:SIGNATURE_LENGTH]


def _valid(secret: str, payload: str, signature: str) -> bool:
    return hmac.compare_digest(_signature(secret, payload), signature.lower())


def reply_token(ticket_id: int, secret: str) -> str:
    """``t{ticket}.{signature}``: the signed token for ``ticket_id``."""
    return f"t{ticket_id}.{_signature(secret, f't{ticket_id}')}"


def ticket_from_token(token: str, secret: str) -> int | None:
    """The ticket a reply token names, or ``None`` if it is malformed or its HMAC is wrong."""
    # Some mail systems upper-case local parts; the token is case-insensitive by design.
    match = _TOKEN.match(token.strip().lower())
    if match is None or not _valid(secret, f"t{match['ticket']}", match["signature"]):
        return None
    return int(match["ticket"])


def reply_address(address: str, ticket_id: int, secret: str) -> str:
    """``address`` with the ticket's token as plus tag: where replies to this ticket go."""
    return with_plus_tag(address, reply_token(ticket_id, secret))


def ticket_from_address(address: str, secret: str) -> int | None:
    """The ticket named by a signed plus tag in ``address``, else ``None``."""
    normalised = normalize_address(address)
    tag = split_plus(normalised).tag if normalised else None
    return ticket_from_token(tag, secret) if tag else None


def make_message_id(ticket_id: int, secret: str, mail_domain: str) -> str:
    """A new, unique Message-ID for mail about ``ticket_id`` carrying its signed token."""
    nonce = secrets.token_hex(8)
    payload = f"t{ticket_id}.{nonce}"
    return f"<{payload}.{_signature(secret, payload)}@{mail_domain}>"


def ticket_from_message_id(message_id: str, secret: str, mail_domain: str) -> int | None:
    """The ticket named by one of *our* Message-IDs (domain and HMAC checked), else ``None``."""
    match = _OUR_MESSAGE_ID.match(message_id.strip().lower())
    if match is None or match["domain"] != mail_domain.lower():
        return None
    payload = f"t{match['ticket']}.{match['nonce']}"
    return int(match["ticket"]) if _valid(secret, payload, match["signature"]) else None


@dataclass(frozen=True, slots=True)
class AgentToken:
    """A verified agent token: ``agent_id`` may ``action`` ("reply" or "note") on
    ``ticket_id``, from the agent's own address."""

    ticket_id: int
    agent_id: int
    action: str


def agent_reply_address(address: str, ticket_id: int, agent_id: int, action: str,
                        secret: str) -> str:
    """The Reply-To for a notification to agent ``agent_id``: mail to it becomes their
    public reply (``action="reply"``) or internal note (``"note"``) on the ticket."""
    if action not in AGENT_ACTIONS:
        raise ValueError(f"unknown agent action {action!r}")
    payload = f"t{ticket_id}.a{agent_id}.{action}"
    return with_plus_tag(address, f"{payload}.{_signature(secret, _AGENT_PAYLOAD + payload)}")


def agent_token_from_address(address: str, secret: str) -> AgentToken | None:
    """The verified agent token in ``address``'s plus tag, else ``None``."""
    normalised = normalize_address(address)
    tag = split_plus(normalised).tag if normalised else None
    match = _AGENT_TOKEN.match(tag) if tag else None
    if match is None:
        return None
    payload = f"t{match['ticket']}.a{match['agent']}.{match['action']}"
    if not _valid(secret, _AGENT_PAYLOAD + payload, match["signature"]):
        return None
    return AgentToken(int(match["ticket"]), int(match["agent"]), match["action"])


def find_agent_token(parsed: ParsedEmail, secret: str) -> AgentToken | None:
    """The first verified agent token among the mail's recipients."""
    for address in _recipients(parsed):
        token = agent_token_from_address(address, secret)
        if token is not None:
            return token
    return None


def subject_ticket(subject: str) -> int | None:
    """The ticket number of a ``[#123]`` tag in ``subject``, if any (unverified!)."""
    match = _SUBJECT_TAG.search(subject)
    return int(match["ticket"]) if match else None


@dataclass(frozen=True, slots=True)
class ThreadMatch:
    """The ticket a mail belongs to and the evidence (``reason``), kept for explanations."""

    ticket_id: int
    reason: str


def find_thread(parsed: ParsedEmail, *, secret: str, mail_domain: str,
                ticket_for_message_ids: Callable[[Sequence[str]], int | None],
                correspondents_of: Callable[[int], Collection[str]]) -> ThreadMatch | None:
    """The ticket ``parsed`` continues, or ``None`` for a new conversation.

    In order of trust:
    1. a signed token in a recipient address (our tokenised Reply-To, as the customer's
       client addressed the reply) or in one of our Message-IDs the mail quotes;
    2. In-Reply-To / References matching a message in the message index
       (``ticket_for_message_ids``; the index also holds ids quoted by mail that arrived
       before the mail they quote);
    3. a ``[#123]`` subject tag, *only* when the sender is that ticket's requester or a
       participant (``correspondents_of`` returns their addresses). Anyone can type a ticket
       number into a subject; honouring it from a stranger leaks the ticket to them and lets
       them write into it (Zammad #5064).
    """
    for address in _recipients(parsed):
        ticket_id = ticket_from_address(address, secret)
        if ticket_id is not None:
            return ThreadMatch(ticket_id, "reply-address-token")
    quoted = quoted_message_ids(parsed)
    for message_id in quoted:
        ticket_id = ticket_from_message_id(message_id, secret, mail_domain)
        if ticket_id is not None:
            return ThreadMatch(ticket_id, "message-id-token")
    if quoted:
        ticket_id = ticket_for_message_ids(quoted)
        if ticket_id is not None:
            return ThreadMatch(ticket_id, "references")
    tagged = subject_ticket(parsed.subject)
    if tagged is not None and parsed.from_addr:
        correspondents = {address.lower() for address in correspondents_of(tagged)}
        if parsed.from_addr in correspondents:
            return ThreadMatch(tagged, "subject-tag")
    return None


def _recipients(parsed: ParsedEmail) -> Iterable[str]:
    yield from parsed.to
    yield from parsed.cc
    for header in _ENVELOPE_HEADERS:
        yield from parsed.header_values(header)


def quoted_message_ids(parsed: ParsedEmail) -> list[str]:
    """In-Reply-To first, then References newest first: the likeliest parent leads."""
    ordered = [parsed.in_reply_to] if parsed.in_reply_to else []
    ordered.extend(reversed(parsed.references))
    return list(dict.fromkeys(ordered))
