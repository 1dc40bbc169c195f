"""Email policies whose header objects are made once per distinct header. Pure.

The stdlib's ``policy.default`` and ``policy.SMTP`` build a new header object -- and a new
class for it -- every time a header is read (``msg.get()``, ``get_content_type()``) or set.
Reading one part's Content-Type a few times parsed it each time: a third of all parsing,
and most of composing a short mail. Header objects are immutable and most values repeat
from mail to mail, so :class:`ReusedHeaders` remembers them.
"""

from __future__ import annotations

from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import EmailPolicy
from typing import Any


class ReusedHeaders(HeaderRegistry):
    """A header factory (see :class:`~email.headerregistry.HeaderRegistry`) that remembers
    the classes and the header objects it made."""

    #: Long values are rare and rarely repeat; a bounded cache keeps hostile mail from
    #: filling memory.
    MAX_VALUE = 1000
    MAX_ENTRIES = 4096

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}
        self._made: dict[tuple[str, str], BaseHeader] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._classes.get(key)
        if made is None:
            made = self._classes[key] = super().__getitem__(key)
        return made

    def __call__(self, name: str, value: Any) -> BaseHeader:
        # Values set as objects (an ``Address``) are not plain keys; they are set once anyway.
        if not isinstance(value, str) or len(value) > self.MAX_VALUE:
            return self[name](name, value)
        key = (name, value)
        header = self._made.get(key)
        if header is None:
            if len(self._made) >= self.MAX_ENTRIES:
                self._made.clear()
            header = self._made[key] = self[name](name, value)
        return header


def reusing_headers(base: EmailPolicy[EmailMessage]) -> EmailPolicy[EmailMessage]:
    """``base`` with a :class:`ReusedHeaders` factory of its own."""
    return base.clone(header_factory=ReusedHeaders())


#: ``policy.default`` for reading mail, ``policy.SMTP`` (CRLF) for writing it.
READ_POLICY = reusing_headers(policy.default)
SMTP_POLICY = reusing_headers(policy.SMTP)
