"""Parsing big mail from its file (``spool.py``) gives what parsing the whole bytes gives.

Compared with a tiny threshold, so that every base64 run of a few lines goes through the
streaming path: generated MIME trees (hypothesis), the project's corpus, and hostile mail.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import random
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.email.parse import ParsedAttachment, ParsedEmail, parse_message
from channels.email.spool import parse_file
from tests.email.corpus import generate
from tests.email.samples import tnef

TINY = 64


def _attachment_summary(attachment: ParsedAttachment) -> tuple[Any, ...]:
    if attachment.spooled is not None:
        content = attachment.spooled.path.read_bytes()
        assert hashlib.sha256(content).hexdigest() == attachment.spooled.sha256
        assert len(content) == attachment.spooled.size
    else:
        content = attachment.data
    return (attachment.filename, attachment.content_type, attachment.inline,
            attachment.content_id, attachment.size, hashlib.sha256(content).hexdigest())


def _summary(parsed: ParsedEmail) -> tuple[Any, ...]:
    return (parsed.subject, parsed.from_addr, parsed.from_name, parsed.to, parsed.cc,
            parsed.message_id, parsed.in_reply_to, parsed.references, parsed.date,
            parsed.text, parsed.html, parsed.headers, parsed.fingerprint, parsed.problem,
            [_attachment_summary(item) for item in parsed.attachments])


@pytest.fixture
def spool_dir(tmp_path: Path) -> Iterator[Path]:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    yield scratch


def _from_file(raw: bytes, directory: Path, threshold: int = TINY) -> ParsedEmail:
    path = directory.parent / "mail.eml"
    path.write_bytes(raw)
    return parse_file(path, directory, threshold=threshold)


def _assert_same_as_whole(raw: bytes, directory: Path) -> ParsedEmail:
    streamed = _from_file(raw, directory)
    assert _summary(streamed) == _summary(parse_message(raw))
    gc.collect()
    # Nothing left behind by runs that fell back: only the files handed out.
    assert sorted(directory.iterdir()) == sorted(
        item.spooled.path for item in streamed.attachments if item.spooled is not None)
    return streamed


def _mail(*parts: tuple[bytes, str, str | None], crlf: bool = True,
          body: str = "See attached.") -> bytes:
    message = EmailMessage()
    message["From"] = "Alice <alice@customer.test>"
    message["To"] = "support@helpdesk.test"
    message["Subject"] = "Files"
    message["Message-ID"] = "<files@customer.test>"
    message.set_content(body)
    for data, content_type, filename in parts:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    raw = message.as_bytes().replace(b"\r\n", b"\n")
    return raw.replace(b"\n", b"\r\n") if crlf else raw


def test_big_attachment_comes_back_in_a_file_with_the_whole_mails_fingerprint(
        spool_dir: Path) -> None:
    payload = random.Random(1).randbytes(50_000)
    raw = _mail((payload, "application/pdf", "report.pdf"))

    streamed = _assert_same_as_whole(raw, spool_dir)

    [attachment] = streamed.attachments
    assert attachment.spooled is not None and attachment.data == b""
    assert attachment.spooled.path.read_bytes() == payload


def test_spooled_files_are_removed_with_the_parsed_mail(spool_dir: Path) -> None:
    raw = _mail((random.Random(2).randbytes(20_000), "image/png", "a.png"),
                (random.Random(3).randbytes(20_000), "application/zip", "b.zip"))

    streamed = _from_file(raw, spool_dir)
    assert len(list(spool_dir.iterdir())) == 2

    del streamed
    gc.collect()
    assert list(spool_dir.iterdir()) == []


def test_small_mail_is_parsed_as_it_is(spool_dir: Path) -> None:
    raw = _mail((b"tiny", "application/octet-stream", "t.bin"))

    streamed = _assert_same_as_whole(raw, spool_dir)

    assert all(item.spooled is None for item in streamed.attachments)
    assert list(spool_dir.iterdir()) == []


def test_lf_line_ends_stream_too(spool_dir: Path) -> None:
    raw = _mail((random.Random(4).randbytes(10_000), "application/pdf", "x.pdf"), crlf=False)

    streamed = _assert_same_as_whole(raw, spool_dir)

    assert streamed.attachments[0].spooled is not None


def _hostile() -> dict[str, bytes]:
    blob = base64.encodebytes(random.Random(5).randbytes(6_000))
    head = (b"From: a@customer.test\r\nTo: support@helpdesk.test\r\nSubject: x\r\n"
            b"MIME-Version: 1.0\r\n")
    multipart = head + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    part = (b"--b\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n")
    lines = blob.splitlines(keepends=True)
    nested = head + b"".join(
        b'Content-Type: multipart/mixed; boundary="n%d"\r\n\r\n--n%d\r\n' % (depth, depth)
        for depth in range(30)) + b"Content-Type: application/octet-stream\r\n" \
        b"Content-Transfer-Encoding: base64\r\n\r\n" + blob
    return {
        "unterminated boundary": multipart + part + blob,
        "no close boundary, text after": multipart + part + blob + b"trailing words\r\n",
        "bad character mid-run": multipart + part + b"".join(lines[:20]) + b"QU!B\r\n"
                                 + b"".join(lines[20:]) + b"--b--\r\n",
        "padding mid-run": multipart + part + b"".join(lines[:20]) + b"QQ==\r\n"
                           + b"".join(lines[20:]) + b"--b--\r\n",
        "one stray character at the end": multipart + part + blob + b"Q\r\n--b--\r\n",
        "two runs in one part": multipart + part + blob + b"\r\n" + blob + b"--b--\r\n",
        "run after words in one part": multipart + part + b"not base64 at all\r\n" + blob
                                       + b"--b--\r\n",
        "base64 block in a text body": head + b"Content-Type: text/plain\r\n\r\n" + blob,
        "html body in base64": multipart + b"--b\r\nContent-Type: text/html\r\n"
                               b"Content-Transfer-Encoding: base64\r\n\r\n"
                               + base64.encodebytes(b"<p>hello</p>" * 800) + b"--b--\r\n",
        "nested 30 deep": nested,
        "forwarded mail with a big attachment": head
        + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
          b"Content-Type: message/rfc822\r\n\r\n" + _mail(
              (random.Random(6).randbytes(8_000), "application/pdf", "inner.pdf"))
        + b"\r\n--b--\r\n",
        "winmail.dat": _mail((tnef([("inside.txt", b"x" * 9_000)]), "application/ms-tnef",
                              "winmail.dat")),
        "no blank line after the headers": head + b"Content-Type: application/pdf\r\n"
                                           + blob,
        "no headers at all": blob,
        "bare CR line ends": multipart.replace(b"\r\n", b"\r") + part.replace(b"\r\n", b"\r")
                             + blob.replace(b"\n", b"\r") + b"--b--\r",
        "one endless line": head + b"\r\n" + b"A" * 200_000,
        "empty": b"",
    }


@pytest.mark.parametrize("name", list(_hostile()))
def test_hostile_mail_never_raises_and_reads_as_the_whole_bytes_do(
        name: str, spool_dir: Path) -> None:
    _assert_same_as_whole(_hostile()[name], spool_dir)


def test_the_corpus_reads_the_same_from_files(tmp_path: Path, spool_dir: Path) -> None:
    generate(150, tmp_path / "corpus", seed=7, raw8bit_gbk=0.2)
    for path in sorted((tmp_path / "corpus").glob("*.eml")):
        _assert_same_as_whole(path.read_bytes(), spool_dir)


_leaf = st.one_of(
    st.tuples(st.binary(min_size=0, max_size=3_000),
              st.sampled_from(["application/octet-stream", "image/png", "application/pdf"]),
              st.one_of(st.none(), st.sampled_from(["a.bin", "报价单.pdf", "winmail.dat"]))),
    st.tuples(st.text(max_size=500).map(lambda text: text.encode("utf-8", "surrogatepass")),
              st.just("text/csv"), st.just("data.csv")),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(parts=st.lists(_leaf, max_size=4), crlf=st.booleans(),
       body=st.text(min_size=1, max_size=300))
def test_any_generated_mail_reads_the_same_from_its_file(
        parts: list[tuple[bytes, str, str | None]], crlf: bool, body: str,
        spool_dir: Path) -> None:
    try:
        raw = _mail(*parts, crlf=crlf, body=body)
    except (ValueError, UnicodeError):
        return  # text the stdlib itself refuses to put into a mail
    _assert_same_as_whole(raw, spool_dir)
