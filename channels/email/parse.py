"""Raw RFC 5322 bytes -> :class:`ParsedEmail`. Pure (no Flask, no SQL), never trusts its input.

The stdlib parser (``policy.default``) gives the MIME structure. Text is decoded here rather
than by the stdlib so that one charset policy applies to headers, bodies and filenames alike:
the declared charset first (read as its common superset: GB2312 mail is really GBK/GB18030,
see :data:`_SUPERSETS`), then UTF-8, then detection, then UTF-8 with replacement characters.

:func:`parse_message` never raises: a mail it cannot make sense of comes back with
``problem`` set to the reason (vetting quarantines it; the raw bytes stay for a replay).
Outlook's TNEF wrapper (``winmail.dat``) is unpacked into the attachments it carries.
"""

from __future__ import annotations

import codecs
import dataclasses
import email.header
import email.utils
import hashlib
import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.parser import BytesParser
from html.parser import HTMLParser
from pathlib import Path

import charset_normalizer
import tnefparse

from channels.email.addresses import normalize_address
from channels.email.headers import READ_POLICY
from helpdesk.tickets.content import safe_filename, sanitize_html

#: A MIME tree deeper or wider than this is an attack on the parser, not a customer's mail.
MAX_DEPTH = 20
MAX_PARTS = 500
#: Detection reads a prefix only: its cost grows with the input, and a prefix is enough.
_DETECTION_BYTES = 64 * 1024
#: Declared charsets read as the superset senders actually mean (as the WHATWG Encoding
#: Standard does for browsers): Outlook labels GBK/GB18030 text "gb2312", Big5 mail carries
#: HKSCS characters, "iso-8859-1" mail carries Windows-1252 quotes and dashes.
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "big5": "big5hkscs",
    "euc_kr": "cp949",
    "shift_jis": "cp932",
    "iso8859-1": "cp1252",
}
#: Codecs tried, strictly, after a declared one fails: ISO-2022-JP mail is often really one of
#: its extensions (half-width katakana, JIS X 0212/0213) while labelled plain ISO-2022-JP.
_ALTERNATIVES = {
    "iso2022_jp": ("iso2022_jp_2", "iso2022_jp_ext", "iso2022_jp_2004"),
    "iso2022_jp_1": ("iso2022_jp_2", "iso2022_jp_ext", "iso2022_jp_2004"),
    "iso2022_jp_2": ("iso2022_jp_ext", "iso2022_jp_2004"),
}
#: ISO-2022-JP is 7-bit: undeclared, it passes for ASCII/UTF-8 and shows its escape
#: sequences as garbage (Zammad #4680). These escapes (RFC 1468) give it away.
_ISO2022JP_ESCAPES = (b"\x1b$B", b"\x1b$@", b"\x1b(J", b"\x1b(I", b"\x1b$(D")
_TNEF_TYPES = ("application/ms-tnef", "application/vnd.ms-tnef")
#: Charsets real mail arrives in without declaring them: detection only chooses among these
#: (it otherwise "finds" Mac and DOS code pages, or UTF-16 in a stray "\xff\xfe").
_UNDECLARED_CANDIDATES = ["gb18030", "big5", "cp932", "euc_jp", "cp949", "cp1252", "cp1250",
                          "cp1251", "koi8_r", "cp1253", "cp1254", "cp1255", "cp1256",
                          "cp1257", "cp874"]
#: Tie-break order when several candidates fit equally well (see :func:`_detect`).
_DETECTION_PREFERENCE = ("gb18030", "cp1252", "cp1250", "big5hkscs", "cp932", "cp949",
                         "cp1251")
#: How much more "chaos" (charset-normalizer's mess ratio) a preferred charset may show
#: than the best fit and still win: short texts score within a few hundredths.
_CHAOS_MARGIN = 0.05
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_FOLDING = re.compile(r"\r?\n(?=[ \t])")
_ESSENTIAL_HEADERS = ("from", "date", "message-id", "subject")


class UnparseableEmail(Exception):
    """The bytes are not an email this parser can read; ``str(error)`` says why."""


@dataclass(frozen=True)  # no slots: spool.py ties the file's removal to this object's life
class SpooledContent:
    """An attachment's decoded bytes in a file rather than in memory (big parts of big mail,
    see ``spool.py``); whoever stores the attachment takes the file over."""

    path: Path
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class ParsedAttachment:
    filename: str
    content_type: str
    data: bytes
    inline: bool = False
    content_id: str | None = None
    #: Set when the content is in a file; ``data`` is then empty.
    spooled: SpooledContent | None = None

    @property
    def size(self) -> int:
        return self.spooled.size if self.spooled is not None else len(self.data)


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    """What the helpdesk needs from one email. Addresses are normalised (lower case).

    ``from_addr`` is ``""`` when the mail has no usable sender (vetting quarantines it).
    ``html`` is already sanitised with the core's allow-list. ``fingerprint`` is a SHA-256
    of the fields that make two copies "the same mail" (see :func:`_with_fingerprint`).
    ``problem`` says why the mail could not be read; the other fields are then empty.
    """

    subject: str
    from_addr: str
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    date: datetime | None
    text: str
    html: str | None
    attachments: tuple[ParsedAttachment, ...]
    headers: tuple[tuple[str, str], ...]
    fingerprint: str = field(default="")
    problem: str | None = None

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), decoded, or ``None``."""
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]


def parse_message(raw: bytes) -> ParsedEmail:
    """Parse ``raw``. Never raises: unreadable mail comes back with ``problem`` set."""
    try:
        if not raw.strip():
            raise UnparseableEmail("empty message")
        return _parse(raw)
    except UnparseableEmail as error:
        return unreadable(raw, str(error))
    except Exception as error:  # a stdlib parser bug must not lose the mail
        return unreadable(raw, f"parser error: {type(error).__name__}: {error}")


def unreadable(raw: bytes, problem: str) -> ParsedEmail:
    """The :class:`ParsedEmail` of a mail that could not be read, and why."""
    return ParsedEmail(subject="", from_addr="", from_name="", to=(), cc=(), message_id=None,
                       in_reply_to=None, references=(), date=None, text="", html=None,
                       attachments=(), headers=(), problem=problem[:2000],
                       fingerprint=hashlib.sha256(raw).hexdigest())


def _parse(raw: bytes) -> ParsedEmail:
    message = BytesParser(policy=READ_POLICY).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    headers = tuple((name, decode_header_value(value)) for name, value in _raw_headers(message))
    present = {name.lower() for name, _ in headers}
    if not present.intersection(_ESSENTIAL_HEADERS):
        raise UnparseableEmail("not an email: no From, Date, Message-ID or Subject header")

    def raw_header(name: str) -> str:
        return next((value for key, value in _raw_headers(message) if key.lower() == name), "")

    from_name, from_addr = _first_address(raw_header("from") or raw_header("sender"))
    body = _Body.of(message)
    parsed = ParsedEmail(
        subject=" ".join(decode_header_value(raw_header("subject")).split()),
        from_addr=from_addr,
        from_name=from_name,
        to=_addresses(message, "to"),
        cc=_addresses(message, "cc"),
        message_id=_first_message_id(raw_header("message-id")),
        in_reply_to=_first_message_id(raw_header("in-reply-to")),
        references=tuple(_MESSAGE_ID.findall(_unfold(raw_header("references")))),
        date=_date(raw_header("date")),
        text=body.text,
        html=sanitize_html(body.html) if body.html else None,
        attachments=tuple(body.attachments),
        headers=headers,
    )
    return _with_fingerprint(parsed, raw)


# -- text decoding ------------------------------------------------------------------------------

def decode_bytes(data: bytes, declared: str | None) -> str:
    """Decode ``data``: declared charset (as its superset), UTF-8, detection, then lossy."""
    codec = _codec(declared)
    if (codec is None or codec in ("ascii", "utf-8")) and b"\x1b" in data and any(
            escape in data for escape in _ISO2022JP_ESCAPES):
        codec = "iso2022_jp"
    for candidate in (codec, *_ALTERNATIVES.get(codec or "", ()), "utf-8"):
        if candidate:
            try:
                return data.decode(candidate)
            except (UnicodeError, LookupError):
                pass
    detected = _detect(data[:_DETECTION_BYTES])
    for candidate in (detected, codec, "utf-8"):
        if candidate:
            try:
                return data.decode(candidate, errors="replace")
            except LookupError:
                pass
    raise AssertionError("utf-8 is always available")


def _detect(data: bytes) -> str | None:
    """The likeliest charset of undeclared, non-UTF-8 ``data`` (charset-normalizer).

    Short texts fit several charsets (nearly) equally well (four GBK bytes are also valid
    Big5, EUC-KR and Shift-JIS; one GBK dash makes Korean look a little less chaotic); such
    near-ties go to :data:`_DETECTION_PREFERENCE`: Chinese first, the language whose mail
    most often comes undeclared or mislabelled to this helpdesk.
    """
    results = list(charset_normalizer.from_bytes(data, cp_isolation=_UNDECLARED_CANDIDATES))
    if not results:
        return None
    least_chaos = min(result.chaos for result in results)
    tied = [codec for result in results if result.chaos <= least_chaos + _CHAOS_MARGIN
            if (codec := _codec(result.encoding))]

    def preference(codec: str) -> int:
        return (_DETECTION_PREFERENCE.index(codec) if codec in _DETECTION_PREFERENCE
                else len(_DETECTION_PREFERENCE))

    return min(tied, key=preference) if tied else None


def _codec(name: str | None) -> str | None:
    """Python's codec for a MIME charset label, widened to its superset; ``None`` if unknown."""
    if not name:
        return None
    label = name.strip().strip('"').lower()
    if label in _SUPERSETS:
        return _SUPERSETS[label]
    try:
        codec = codecs.lookup(label)
    except LookupError:
        return None
    try:
        b"".decode(codec.name)
    except LookupError:  # "zlib", "base64", ...: bytes-to-bytes codecs, not charsets
        return None
    return _SUPERSETS.get(codec.name, codec.name)


def _restore_bytes(value: str) -> str:
    """Re-decode 8-bit header bytes the stdlib carried through as surrogate escapes.

    RFC 6532 allows raw UTF-8 in headers; older mailers send raw GBK. The parser decodes
    header bytes as ASCII with ``surrogateescape``, so the original bytes are recoverable.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return decode_bytes(value.encode("ascii", "surrogateescape"), None)
    return value


def decode_header_value(value: str) -> str:
    """A raw header value with folding removed and RFC 2047 encoded-words decoded."""
    value = _restore_bytes(_unfold(value))
    if "=?" not in value:
        return value
    try:
        chunks = email.header.decode_header(value)
    except Exception:  # malformed encoded-words: show them as they are
        return value
    decoded = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            decoded.append(chunk)
        elif charset is None:
            # decode_header hands back the text between encoded-words this way.
            decoded.append(chunk.decode("raw-unicode-escape", errors="replace"))
        else:
            decoded.append(decode_bytes(chunk, charset))
    return "".join(decoded)


def _unfold(value: str) -> str:
    return _FOLDING.sub("", value).strip()


# -- headers ------------------------------------------------------------------------------------

def _raw_headers(part: Message) -> Iterator[tuple[str, str]]:
    # raw_items() yields the values as received: header objects built by policy.default
    # would have decoded encoded-words with its own, stricter charset handling.
    for name, value in part.raw_items():
        yield name, str(value)


def _first_address(raw_value: str) -> tuple[str, str]:
    for name, address in _parse_addresses(raw_value):
        return name, address
    return "", ""


def _addresses(message: Message, header: str) -> tuple[str, ...]:
    found: list[str] = []
    for name, value in _raw_headers(message):
        if name.lower() == header:
            found.extend(address for _, address in _parse_addresses(value))
    return tuple(found)


def _parse_addresses(raw_value: str) -> list[tuple[str, str]]:
    """(display name, normalised address) pairs; invalid addresses are left out.

    Addresses are split *before* encoded-words are decoded: a decoded display name may
    contain commas or ``<`` that would otherwise forge extra addresses.
    """
    pairs = []
    for name, address in email.utils.getaddresses([_unfold(raw_value)]):
        normalised = normalize_address(_restore_bytes(address))
        if normalised:
            pairs.append((" ".join(decode_header_value(name).split())[:200], normalised))
    return pairs


def _first_message_id(raw_value: str) -> str | None:
    value = _unfold(raw_value)
    found = _MESSAGE_ID.search(value)
    if found:
        return found.group(0)[:998]
    # Some mailers drop the angle brackets RFC 5322 §3.6.4 requires; keep a lone token.
    if value and " " not in value and len(value) < 990:
        return f"<{value.strip('<>')}>"
    return None


def _date(raw_value: str) -> datetime | None:
    try:
        parsed = email.utils.parsedate_to_datetime(_unfold(raw_value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# -- body and attachments -----------------------------------------------------------------------

@dataclass
class _Body:
    text: str = ""
    html: str | None = None
    attachments: list[ParsedAttachment] = field(default_factory=list)

    @classmethod
    def of(cls, message: EmailMessage) -> _Body:
        body = cls()
        leaves = list(_leaves(message))  # first: it enforces the size limits
        plain_part = message.get_body(preferencelist=("plain",))
        html_part = message.get_body(preferencelist=("html",))
        extra_text = []
        for part, parent_type in leaves:
            if part is plain_part or part is html_part:
                continue
            if _is_body_text(part):
                # Apple Mail splits a body around inline images into several text/plain
                # parts of a multipart/mixed; inside multipart/alternative a second text
                # part is only another rendering of the chosen one.
                if (part.get_content_type() == "text/plain"
                        and parent_type != "multipart/alternative"):
                    extra_text.append(_text_of(part))
                continue
            attachment = _attachment(part, len(body.attachments) + 1)
            unpacked = _tnef_contents(attachment)
            body.attachments.extend(unpacked if unpacked is not None else [attachment])
        if plain_part is not None:
            body.text = _text_of(plain_part)
        if html_part is not None:
            body.html = _text_of(html_part)
            if plain_part is None:
                body.text = html_to_text(body.html)
        body.text = "\n\n".join(filter(None, [body.text.strip(), *extra_text])).strip()
        return body


def _leaves(message: Message) -> Iterator[tuple[Message, str]]:
    """Every non-multipart part with its parent's content type, within the size limits."""
    count = 0
    stack: list[tuple[Message, str, int]] = [(message, "", 0)]
    while stack:
        part, parent_type, depth = stack.pop()
        count += 1
        if count > MAX_PARTS:
            raise UnparseableEmail(f"more than {MAX_PARTS} MIME parts")
        if depth > MAX_DEPTH:
            raise UnparseableEmail(f"MIME parts nested deeper than {MAX_DEPTH}")
        if part.get_content_maintype() == "multipart" and part.is_multipart():
            children = part.get_payload()
            assert isinstance(children, list)
            content_type = part.get_content_type()
            stack.extend((child, content_type, depth + 1) for child in reversed(children)
                         if isinstance(child, Message))
        else:
            yield part, parent_type


def _is_body_text(part: Message) -> bool:
    return (part.get_content_type() in ("text/plain", "text/html")
            and part.get_content_disposition() != "attachment" and not part.get_filename())


def _text_of(part: Message) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    return decode_bytes(data, part.get_content_charset())


def _attachment(part: Message, number: int) -> ParsedAttachment:
    content_type = part.get_content_type()
    content_id = _first_message_id(next(
        (value for name, value in _raw_headers(part) if name.lower() == "content-id"), ""))
    filename = _restore_bytes(part.get_filename() or "")
    if "=?" in filename:
        # Outlook and many Chinese clients put RFC 2047 words in the quoted filename
        # instead of the RFC 2231 form.
        filename = decode_header_value(filename)
    if not filename:
        extension = mimetypes.guess_extension(content_type) or ".bin"
        filename = f"attachment-{number}{extension}"
    return ParsedAttachment(
        filename=safe_filename(filename),
        content_type=content_type,
        data=_part_bytes(part),
        inline=part.get_content_disposition() == "inline" or (
            content_id is not None and part.get_content_disposition() != "attachment"),
        content_id=content_id.strip("<>") if content_id else None,
    )


def _tnef_contents(attachment: ParsedAttachment) -> list[ParsedAttachment] | None:
    """The files inside an Outlook TNEF attachment (``winmail.dat``); ``None`` when
    ``attachment`` is not TNEF or cannot be unpacked (it is then kept as it is)."""
    if (attachment.content_type not in _TNEF_TYPES
            and attachment.filename.lower() != "winmail.dat"):
        return None
    try:
        tnef = tnefparse.TNEF(attachment.data, do_checksum=False)
        files = [(item.long_filename(), item.data) for item in tnef.attachments]
    except Exception:  # a damaged wrapper: the agent still gets winmail.dat itself
        return None
    unpacked = []
    for number, (name, data) in enumerate(files, start=1):
        if isinstance(name, bytes):
            name = decode_bytes(name.rstrip(b"\0"), None)
        filename = safe_filename(str(name or "").strip("\0"),
                                 fallback=f"attachment-{number}.bin")
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        unpacked.append(ParsedAttachment(filename=filename, content_type=content_type,
                                         data=bytes(data or b"")))
    return unpacked or None


def _part_bytes(part: Message) -> bytes:
    if part.is_multipart():
        # message/rfc822 (a forwarded mail) and delivery reports hold parsed messages.
        inner = part.get_payload()
        assert isinstance(inner, list)
        return b"".join(message.as_bytes(policy=READ_POLICY) for message in inner
                        if isinstance(message, Message))
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


class _TextExtractor(HTMLParser):
    _BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6",
                         "blockquote", "pre", "table", "hr"})
    _SKIPPED = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skipping += 1
        elif tag in self._BLOCKS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCKS:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.chunks.append(" ".join(data.split()) if data.strip() else " ")


def html_to_text(html: str) -> str:
    """Plain text of an HTML body, one line per block, for mail that has no text part."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = (line.strip() for line in "".join(extractor.chunks).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# -- identity -----------------------------------------------------------------------------------

def _with_fingerprint(parsed: ParsedEmail, raw: bytes) -> ParsedEmail:
    """Fill in ``fingerprint``: what two deliveries of one mail have in common.

    Trace headers (Received, Delivered-To, Return-Path) differ between two copies of one mail
    (sent to two of our addresses, or re-delivered), so they are left out; sender, recipients,
    subject, date, Message-ID and the exact body bytes are in. Two *different* mails that
    reuse one Message-ID (some vendors do) get different fingerprints.
    """
    separator = re.search(rb"\r?\n\r?\n", raw)
    digest = fingerprint_digest(parsed)
    digest.update(raw[separator.end():] if separator else b"")
    return dataclasses.replace(parsed, fingerprint=digest.hexdigest())


def fingerprint_digest(parsed: ParsedEmail) -> hashlib._Hash:
    """The fingerprint's hash fed with the header fields, ready for the body bytes (those
    after the first blank line), so a mail too big to hold can be hashed as it streams."""
    digest = hashlib.sha256()
    for value in (parsed.message_id or "", parsed.from_addr, ",".join(parsed.to),
                  ",".join(parsed.cc), parsed.subject, parsed.header("date") or ""):
        digest.update(value.encode("utf-8", "surrogatepass") + b"\0")
    return digest
