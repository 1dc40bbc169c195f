"""parse_message on mail as the world sends it: charsets, names, TNEF and hostile bytes."""

from __future__ import annotations

import base64
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.email.parse import parse_message
from tests.email.samples import tnef

HEAD = ("From: Sender <sender@customer.test>\r\nTo: support@helpdesk.test\r\n"
        "Message-ID: <w1@customer.test>\r\nDate: Mon, 04 Mar 2024 08:30:00 +0000\r\n")


def _mail(subject: bytes, body: bytes, content_type: str, encoding: str = "8bit") -> bytes:
    return (HEAD.encode() + b"Subject: " + subject + b"\r\nMIME-Version: 1.0\r\n"
            + f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
            .encode() + body)


def _encoded_word(text: str, charset: str) -> bytes:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?=".encode()


JAPANESE = "日本語のお問い合わせです"
HKSCS = "香港增補字符集：𥚃"  # the last character exists in Big5-HKSCS only
GBK_TEXT = "您好，发票金额错误 – 请核对"  # the dash is GBK, not GB2312

CHARSET_CASES = [
    ("iso-2022-jp declared", _mail(_encoded_word(JAPANESE, "iso-2022-jp"),
                                   JAPANESE.encode("iso2022_jp"),
                                   "text/plain; charset=iso-2022-jp", "7bit"), JAPANESE),
    ("iso-2022-jp with half-width katakana", _mail(
        b"hi", (JAPANESE + "ｶﾀｶﾅ").encode("iso2022_jp_ext"),
        "text/plain; charset=iso-2022-jp", "7bit"), JAPANESE + "ｶﾀｶﾅ"),
    ("iso-2022-jp undeclared", _mail(b"hi", JAPANESE.encode("iso2022_jp"),
                                     "text/plain", "7bit"), JAPANESE),
    ("big5 declared, hkscs characters", _mail(
        _encoded_word("查詢", "big5"), base64.b64encode(HKSCS.encode("big5hkscs")),
        "text/plain; charset=big5", "base64"), HKSCS),
    ("gb2312 declared, gbk characters", _mail(
        _encoded_word("发票", "gb2312").replace(b"gb2312", b"GB2312"),
        base64.b64encode(GBK_TEXT.encode("gbk")), 'text/plain; charset="GB2312"', "base64"),
     GBK_TEXT),
    ("raw 8-bit gbk, no charset", _mail("发票问题".encode("gbk"), GBK_TEXT.encode("gbk"),
                                        "text/plain"), GBK_TEXT),
    ("declared utf-8 but really gbk", _mail(b"hi", GBK_TEXT.encode("gbk"),
                                            "text/plain; charset=utf-8"), GBK_TEXT),
    ("unknown charset label", _mail(b"hi", "Grüße".encode(),
                                    "text/plain; charset=x-unknown-42"), "Grüße"),
]


@pytest.mark.parametrize(("case", "raw", "expected"), CHARSET_CASES,
                         ids=[case[0] for case in CHARSET_CASES])
def test_body_is_decoded_to_what_the_sender_wrote(case: str, raw: bytes, expected: str) -> None:
    parsed = parse_message(raw)
    assert parsed.problem is None
    assert parsed.text == expected


def test_japanese_subject_in_iso_2022_jp_is_decoded() -> None:
    raw = CHARSET_CASES[0][1]
    assert parse_message(raw).subject == JAPANESE


def test_raw_gbk_subject_is_decoded() -> None:
    assert parse_message(CHARSET_CASES[5][1]).subject == "发票问题"


def test_broken_folding_and_split_encoded_words_in_subject_are_joined() -> None:
    raw = _mail(b"=?utf-8?B?5Y+R56Wo?=\r\n =?utf-8?B?6YeR6aKd?=\r\n\tmismatch", b"x",
                "text/plain; charset=utf-8")
    assert parse_message(raw).subject == "发票金额 mismatch"


def _multipart(*parts: bytes) -> bytes:
    body = b"".join(b"--sep\r\n" + part + b"\r\n" for part in parts) + b"--sep--\r\n"
    return _mail(b"files", body, 'multipart/mixed; boundary="sep"')


TEXT_PART = b"Content-Type: text/plain; charset=utf-8\r\n\r\nsee attached"


def _attachment(headers: str, data: bytes) -> bytes:
    return (headers.encode() + b"Content-Transfer-Encoding: base64\r\n\r\n"
            + base64.b64encode(data))


NAME_CASES = [
    ("rfc 2231 utf-8", "Content-Type: text/csv\r\nContent-Disposition: attachment; "
     "filename*=utf-8''%E8%AE%A2%E5%8D%95%E6%98%8E%E7%BB%86.csv\r\n", "订单明细.csv"),
    ("rfc 2231 gbk", "Content-Type: text/plain\r\nContent-Disposition: attachment; "
     "filename*=gbk''%B0%B2%D7%B0%C8%D5%D6%BE.log\r\n", "安装日志.log"),
    ("rfc 2047 inside quotes (outlook, foxmail)",
     'Content-Type: application/pdf; name="=?gb2312?B?sai827Wl?=.pdf"\r\n'
     'Content-Disposition: attachment; filename="=?gb2312?B?sai827Wl?=.pdf"\r\n', "报价单.pdf"),
    ("zero-width space hiding the real extension",
     "Content-Type: application/pdf\r\nContent-Disposition: attachment; "
     "filename*=utf-8''invoice.pdf%E2%80%8B.html\r\n", "invoice.pdf.html"),
    ("right-to-left override reversing the extension",
     "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; "
     "filename*=utf-8''photo%E2%80%AEgpj.exe\r\n", "photogpj.exe"),
    ("path traversal", 'Content-Type: text/plain\r\nContent-Disposition: attachment; '
     'filename="../../etc/passwd"\r\n', "_.._etc_passwd"),
]


@pytest.mark.parametrize(("case", "headers", "expected"), NAME_CASES,
                         ids=[case[0] for case in NAME_CASES])
def test_attachment_names_are_decoded_and_made_safe(case: str, headers: str,
                                                    expected: str) -> None:
    parsed = parse_message(_multipart(TEXT_PART, _attachment(headers, b"a,b\n1,2\n")))
    [attachment] = parsed.attachments
    assert attachment.filename == expected
    assert attachment.size == 8


def test_csv_and_log_attachments_are_kept_with_their_types() -> None:
    parsed = parse_message(_multipart(
        TEXT_PART,
        _attachment('Content-Type: text/csv\r\nContent-Disposition: attachment; '
                    'filename="orders.csv"\r\n', b"id,total\n1,9.99\n"),
        _attachment('Content-Type: text/plain\r\nContent-Disposition: attachment; '
                    'filename="install.log"\r\n', b"step 1 ok\n")))
    assert [(a.filename, a.content_type, a.inline) for a in parsed.attachments] == [
        ("orders.csv", "text/csv", False), ("install.log", "text/plain", False)]
    assert parsed.text == "see attached"


def test_winmail_dat_is_unpacked_into_its_files() -> None:
    winmail = tnef([("REPORT.CSV", b"a,b\n1,2\n"), ("SETUP.LOG", b"ok\n")])
    parsed = parse_message(_multipart(TEXT_PART, _attachment(
        'Content-Type: application/ms-tnef; name="winmail.dat"\r\n'
        'Content-Disposition: attachment; filename="winmail.dat"\r\n', winmail)))
    assert [(a.filename, a.content_type, a.data) for a in parsed.attachments] == [
        ("REPORT.CSV", "text/csv", b"a,b\n1,2\n"), ("SETUP.LOG", "application/octet-stream",
                                                   b"ok\n")]


def test_damaged_winmail_dat_is_kept_as_it_is() -> None:
    parsed = parse_message(_multipart(TEXT_PART, _attachment(
        'Content-Type: application/ms-tnef\r\nContent-Disposition: attachment; '
        'filename="winmail.dat"\r\n', b"\x78\x9f\x3e\x22" + b"\xff" * 40)))
    [attachment] = parsed.attachments
    assert attachment.filename == "winmail.dat"


def test_script_and_handlers_in_html_mail_never_survive() -> None:
    html = ('<p onclick="steal()">Hi</p><script>alert(1)</script><a href="javascript:x()">a</a>'
            '<img src="https://tracker.example/p.gif"><iframe src="https://evil.example">'
            '</iframe><svg onload="x()"></svg>')
    parsed = parse_message(_mail(b"hi", html.encode(), "text/html; charset=utf-8"))
    assert parsed.html is not None
    for forbidden in ("script", "onclick", "javascript:", "tracker.example", "iframe", "onload"):
        assert forbidden not in parsed.html
    assert parsed.text.startswith("Hi")


def test_newline_injection_in_encoded_subject_does_not_create_headers() -> None:
    injected = base64.b64encode(b"Hello\r\nBcc: victim@example.com").decode()
    parsed = parse_message(_mail(f"=?utf-8?B?{injected}?=".encode(), b"x",
                                 "text/plain; charset=utf-8"))
    assert "\n" not in parsed.subject and "\r" not in parsed.subject
    assert parsed.header("bcc") is None


HEADER_NAMES = st.sampled_from(["From", "To", "Cc", "Subject", "Message-ID", "In-Reply-To",
                                "References", "Date", "Content-Type",
                                "Content-Transfer-Encoding", "Content-Disposition"])
HEADER_VALUES = st.one_of(
    st.binary(max_size=120),
    st.text(alphabet=string.printable + "=?\"<>;@\\", max_size=120).map(str.encode),
    st.sampled_from([b"multipart/mixed; boundary=x", b"text/plain; charset=gb2312",
                     b"=?utf-8?B?5Y+R?=", b"base64", b"quoted-printable",
                     b"attachment; filename*=gbk''%B0", b"application/ms-tnef"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(headers=st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=12),
       body=st.binary(max_size=600))
def test_hostile_mail_never_raises(headers: list[tuple[str, bytes]], body: bytes) -> None:
    raw = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in headers)
    parsed = parse_message(raw + b"\r\n" + body)
    assert parsed.problem is not None or parsed.fingerprint


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    parsed = parse_message(raw)
    assert isinstance(parsed.text, str)
