"""Parsing a mail too big to hold in memory, from its file. Pure (no Flask, no SQL).

Nearly all of a big mail is one or a few base64 attachments. The file is read once, line by
line: every long run of base64 lines is decoded straight into a file of its own and replaced
by a one-line placeholder, and the small rest (headers, text, small parts: the *skeleton*) is
what :func:`parse_message` parses, as it would the whole mail. The attachments that come
back holding a placeholder are then given their file instead (``ParsedAttachment.spooled``),
and the fingerprint is the one of the whole mail, hashed as the file streamed past.

Runs are found without following the MIME structure, so the result is *checked*: each
placeholder must come back as exactly one attachment's whole content and nowhere else
(a base64-looking block inside a text body, a part that is more than the run, TNEF to
unpack). Anything irregular (bad padding, a header block without end, a check that fails)
falls back to parsing the whole bytes: the answer is always :func:`parse_message`'s.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import io
import os
import re
import secrets
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from channels.email.parse import (
    ParsedAttachment,
    ParsedEmail,
    SpooledContent,
    fingerprint_digest,
    parse_message,
)

#: A base64 run longer than this (encoded bytes) is decoded to a file of its own.
PART_THRESHOLD = 256 * 1024
#: A top-level header block bigger than this is not a mail worth streaming.
_HEADER_LIMIT = 1024 * 1024
#: Lines are read in pieces of at most this much, so one endless line cannot fill memory.
_LINE_LIMIT = 64 * 1024
#: One line of a base64 body (RFC 2045 §6.8), padding only at its end.
_BASE64_LINE = re.compile(rb"[A-Za-z0-9+/]+={0,2}\r?\n")
#: What every TNEF stream starts with (MS-OXTNEF §2.1.3.1): parse.py unpacks it, so it is
#: never spooled.
_TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"


class _Irregular(Exception):
    """The file is not the plain shape streaming relies on: parse the whole bytes."""


def parse_file(path: Path, scratch: Path, *, threshold: int = PART_THRESHOLD) -> ParsedEmail:
    """:func:`parse_message` of the mail in ``path``, holding only its small parts in memory.

    Large attachments come back with ``spooled`` set, their files in ``scratch`` (best on
    the file system where they will be stored, so storing them is a rename). A file nobody
    took over is removed when its attachment is garbage. Never raises for what the mail
    contains; a failing disk raises ``OSError``.
    """
    try:
        with path.open("rb") as source:
            skeleton = _Skeleton.read(source, scratch, threshold)
        parsed = skeleton.reattach(parse_message(skeleton.data))
    except _Irregular:
        parsed = None
    return parsed if parsed is not None else parse_message(path.read_bytes())


@dataclass
class _Skeleton:
    head: ParsedEmail
    data: bytes = b""
    #: Placeholder content -> the decoded run it stands for.
    parts: dict[bytes, SpooledContent] = field(default_factory=dict)
    fingerprint: str = ""

    @classmethod
    def read(cls, source: BinaryIO, scratch: Path, threshold: int) -> _Skeleton:
        header = _header_block(source)
        skeleton = cls(head=parse_message(header))
        if skeleton.head.problem:
            raise _Irregular(skeleton.head.problem)
        # The fingerprint hashes the body bytes, i.e. all that follows the header block.
        digest = fingerprint_digest(skeleton.head)
        out = io.BytesIO()
        out.write(header)
        run: list[bytes] = []
        run_bytes = 0
        spooling: _Base64File | None = None

        def end_run() -> None:
            nonlocal run_bytes, spooling
            if spooling is not None:
                token, content = spooling.finish()
                skeleton.parts[token] = content
                out.write(base64.b64encode(token) + (b"\r\n" if spooling.crlf else b"\n"))
                spooling = None
            out.writelines(run)
            run.clear()
            run_bytes = 0

        at_line_start = True
        for piece in iter(lambda: source.readline(_LINE_LIMIT), b""):
            digest.update(piece)
            if at_line_start and _BASE64_LINE.fullmatch(piece):
                if spooling is not None:
                    spooling.write(piece)
                else:
                    run.append(piece)
                    run_bytes += len(piece)
                    if run_bytes > threshold:
                        spooling = _Base64File(scratch)
                        for line in run:
                            spooling.write(line)
                        run.clear()
            else:
                end_run()
                out.write(piece)
            at_line_start = piece.endswith(b"\n")
        end_run()
        skeleton.data = out.getvalue()
        skeleton.fingerprint = digest.hexdigest()
        return skeleton

    def reattach(self, parsed: ParsedEmail) -> ParsedEmail | None:
        """``parsed`` (of the skeleton) with the spooled files in place of the placeholders
        and the whole mail's fingerprint; ``None`` when the check fails (module docstring)."""
        if not self.parts:
            return parsed  # the skeleton is the mail itself
        if parsed.problem or _identity(parsed) != _identity(self.head):
            return None
        attachments: list[ParsedAttachment] = []
        for attachment in parsed.attachments:
            content = self.parts.get(attachment.data)
            attachments.append(attachment if content is None else dataclasses.replace(
                attachment, data=b"", spooled=content))
        if sum(item.spooled is not None for item in attachments) != len(self.parts):
            return None
        markers = [marker for token in self.parts for marker in (token, base64.b64encode(token))]
        texts = [parsed.text, parsed.html or "", *(value for _, value in parsed.headers)]
        if any(marker.decode() in text for marker in markers for text in texts) or any(
                marker in item.data for marker in markers for item in attachments):
            return None
        return dataclasses.replace(parsed, attachments=tuple(attachments),
                                   fingerprint=self.fingerprint)


def _identity(parsed: ParsedEmail) -> tuple[object, ...]:
    return (parsed.message_id, parsed.from_addr, parsed.to, parsed.cc, parsed.subject,
            parsed.header("date"))


def _header_block(source: BinaryIO) -> bytes:
    """The top-level header block up to and including the first blank line (where the
    fingerprint's body begins: ``\\r?\\n\\r?\\n``, see ``parse.py``)."""
    pieces: list[bytes] = []
    size = 0
    at_line_start = False  # a blank first line ends nothing: it has no line break before it
    for piece in iter(lambda: source.readline(_LINE_LIMIT), b""):
        pieces.append(piece)
        size += len(piece)
        if at_line_start and piece in (b"\n", b"\r\n"):
            return b"".join(pieces)
        if size > _HEADER_LIMIT:
            break
        at_line_start = piece.endswith(b"\n")
    raise _Irregular("no end of the header block")


class _Base64File:
    """A base64 run decoded into a scratch file as it is read, hashed on the way.

    Strict where the stdlib is lenient (characters outside the alphabet, padding before the
    end): such a run raises :class:`_Irregular` and the stdlib gets the whole mail instead,
    so its leniency decides, not ours.
    """

    def __init__(self, scratch: Path) -> None:
        descriptor, name = tempfile.mkstemp(dir=scratch, prefix="part-")
        self.path = Path(name)
        self._file = os.fdopen(descriptor, "wb")
        # Until the run is handed out, the file goes with this object (a fallback or an
        # error leaves nothing behind).
        self._cleanup = weakref.finalize(self, _remove, self.path, self._file)
        self._pending = b""
        self._padded = False
        self._size = 0
        self._sha256 = hashlib.sha256()
        self.crlf = False

    def write(self, line: bytes) -> None:
        if self._padded:
            raise _Irregular("base64 after its padding")
        self.crlf = line.endswith(b"\r\n")
        chars = line.rstrip(b"\r\n")
        self._padded = chars.endswith(b"=")
        data = self._pending + chars
        whole = len(data) - len(data) % 4
        if self._padded and whole != len(data):
            raise _Irregular("base64 padding in the middle of a quantum")
        self._pending = data[whole:]
        self._emit(data[:whole])

    def _emit(self, encoded: bytes) -> None:
        try:
            decoded = base64.b64decode(encoded, validate=True)
        except binascii.Error as error:
            raise _Irregular(f"bad base64: {error}") from None
        if self._size == 0 and decoded.startswith(_TNEF_SIGNATURE):
            raise _Irregular("TNEF is unpacked from memory")
        self._file.write(decoded)
        self._sha256.update(decoded)
        self._size += len(decoded)

    def finish(self) -> tuple[bytes, SpooledContent]:
        """Close the file; return the placeholder's content and the spooled content."""
        if self._pending:
            # The stdlib pads a short last quantum (email._encoded_words.decode_b); one
            # lone character cannot be padded.
            if len(self._pending) % 4 == 1:
                raise _Irregular("base64 of impossible length")
            self._emit(self._pending + b"=" * (4 - len(self._pending) % 4))
        self._file.close()
        content = SpooledContent(self.path, self._size, self._sha256.hexdigest())
        # Now the file goes with the attachment that will carry it.
        self._cleanup.detach()
        weakref.finalize(content, _remove, self.path, None)
        return b"helpdesk-spooled-part-" + secrets.token_hex(16).encode(), content


def _remove(path: Path, file: BinaryIO | None) -> None:
    if file is not None:
        file.close()
    path.unlink(missing_ok=True)
