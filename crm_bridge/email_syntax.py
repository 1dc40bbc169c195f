"""A cheap first look at an email address, before the full syntax check.

``email_validator`` is the judge of an address's syntax, but it costs more than mapping the
rest of a CRM record (it normalises Unicode and applies IDNA to every domain). Almost every
address a CRM holds has the plain shape recognised here: an ASCII dot-atom local part, a
domain of letter/digit/hyphen labels and an alphabetic top-level domain. Every address this
shape accepts is one ``email_validator`` accepts too (the tests compare the two on generated
addresses); everything else still goes to ``email_validator``, which accepts or explains.

Pure: no Flask, no SQLAlchemy.
"""

from __future__ import annotations

import re

from email_validator import SPECIAL_USE_DOMAIN_NAMES

_PLAIN_ADDRESS = re.compile(
    r"(?P<local>[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*)"
    r"@(?P<domain>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})",
    re.ASCII | re.IGNORECASE)
#: RFC 5321 limits, as ``email_validator`` applies them.
_ADDRESS_MAX = 254
_LOCAL_PART_MAX = 64


def is_plain_email(address: str) -> bool:
    """True if ``address`` has the common shape above, so it is certainly valid.

    False means "ask ``email_validator``", not "invalid". Domains with ``--`` anywhere are
    left to it (its rules on Punycode and reserved hyphen positions), and so are special-use
    domains such as ``.local`` or ``.test``.
    """
    if len(address) > _ADDRESS_MAX:
        return False
    match = _PLAIN_ADDRESS.fullmatch(address)
    if match is None or len(match["local"]) > _LOCAL_PART_MAX:
        return False
    domain = match["domain"].lower()
    return "--" not in domain and not any(
        domain == name or domain.endswith("." + name) for name in SPECIAL_USE_DOMAIN_NAMES)
