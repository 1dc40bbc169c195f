"""The raw mail we keep, wherever it is: in its row (nearly all mail) or, for mail bigger
than ``MAIL_SPOOL_BYTES``, in a file in the attachment storage (``RawEmail.raw_storage_name``).
Whoever reads raw mail reads it through here, so a big mail is never one ``bytes``."""

from __future__ import annotations

import io
from typing import BinaryIO

from channels.email import spool
from channels.email.models import RawEmail
from channels.email.parse import ParsedEmail, parse_message
from helpdesk.tickets import storage


def open_raw(raw_email: RawEmail) -> BinaryIO:
    """The mail's bytes as a binary file (the caller closes it)."""
    if raw_email.raw_storage_name is not None:
        return storage.path_of(raw_email.raw_storage_name).open("rb")
    return io.BytesIO(raw_email.raw or b"")


def stored_size(raw_email: RawEmail) -> int:
    """How many bytes of the mail we hold (less than ``size`` when only its header was)."""
    if raw_email.raw_storage_name is not None:
        return storage.path_of(raw_email.raw_storage_name).stat().st_size
    return len(raw_email.raw or b"")


def parse_raw(raw_email: RawEmail) -> ParsedEmail:
    """:func:`parse_message` of the mail; a mail in a file is parsed from the file, its big
    attachments decoded to files beside the storage (see ``spool.py``)."""
    if raw_email.raw_storage_name is not None:
        return spool.parse_file(storage.path_of(raw_email.raw_storage_name),
                                storage.scratch_dir())
    return parse_message(raw_email.raw or b"")
