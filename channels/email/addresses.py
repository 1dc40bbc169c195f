"""Email addresses: normalising, validating and plus-address tags. Pure (no Flask, no SQL).

Customers are stored by lower-cased address (see ``helpdesk.customers``), so every address
that reaches the core goes through :func:`normalize_address` first. Strictly speaking the
local part is case-sensitive (RFC 5321 §2.4), but no real mailbox provider treats it so, and
a customer who writes once as ``Li.Wei@`` and once as ``li.wei@`` is one person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A deliberately strict addr-spec: dot-atom local part (RFC 5322 §3.4.1) and a domain of
# LDH labels (or IDNA A-labels). Quoted local parts and address literals are refused: they
# are what parser-confusion attacks use (CVE-2023-27043: ``"a@ours"@evil`` read as ``a@ours``).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LOCAL = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"^(?P<local>{_LOCAL})@(?P<domain>{_LABEL}(?:\.{_LABEL})+)$")
PLUS = "+"


def normalize_address(address: str) -> str | None:
    """``address`` lower-cased and stripped of ``<>``, or ``None`` when it is not valid."""
    candidate = address.strip().strip("<>").strip()
    if len(candidate) > 254 or not _ADDRESS.match(candidate):
        return None
    return candidate.lower()


@dataclass(frozen=True, slots=True)
class PlusAddress:
    """``local+tag@domain`` split into the mailbox (``local@domain``) and the tag."""

    base: str
    tag: str | None


def split_plus(address: str) -> PlusAddress:
    """Split a (normalised) address at the first ``+`` of its local part (RFC 5233 style)."""
    local, _, domain = address.rpartition("@")
    base_local, plus, tag = local.partition(PLUS)
    if not plus or not tag:
        return PlusAddress(base=address, tag=None)
    return PlusAddress(base=f"{base_local}@{domain}", tag=tag)


def with_plus_tag(address: str, tag: str) -> str:
    """``local+tag@domain`` for the mailbox ``address`` (any existing tag is replaced)."""
    base = split_plus(address).base
    local, _, domain = base.rpartition("@")
    return f"{local}{PLUS}{tag}@{domain}"


def same_mailbox(address: str, other: str) -> bool:
    """Whether two addresses reach the same mailbox once plus tags are ignored."""
    return split_plus(address.lower()).base == split_plus(other.lower()).base


_DOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})+$")


def block_pattern(text: str) -> str | None:
    """A blocked-sender entry: a normalised address, or ``@domain`` for a whole domain (as
    vetting matches them); ``None`` when ``text`` is neither."""
    candidate = text.strip()
    if candidate.startswith("@"):
        domain = candidate[1:]
        return f"@{domain.lower()}" if len(domain) <= 253 and _DOMAIN.match(domain) else None
    return normalize_address(candidate)
