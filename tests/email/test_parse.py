"""parse.py: charsets, encoded words, attachments and hostile input (pure, no app)."""

from __future__ import annotations

import base64

import pytest

from channels.email.parse import decode_bytes, parse_message

CHINESE = "您好，我的订单还没有收到，请帮忙查一下物流信息。谢谢！"
# "镕" and the en dash are in GBK/GB18030 but not in GB2312: Outlook still labels such mail
# "gb2312", and a strict GB2312 decoder turns the whole text into mojibake (GLPI #8986).
BEYOND_GB2312 = "朱镕基 – 订单号 12345"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _mail(headers: str, body: bytes, content_type: str = "text/plain; charset=utf-8",
          encoding: str = "8bit") -> bytes:
    head = (f"From: Alice <alice@customer.test>\r\nTo: support@helpdesk.test\r\n"
            f"Message-ID: <m1@customer.test>\r\nDate: Mon, 01 Jan 2024 10:00:00 +0800\r\n"
            f"{headers}MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n"
            f"Content-Transfer-Encoding: {encoding}\r\n\r\n")
    return head.encode() + body


def test_utf8_subject_and_body_are_decoded() -> None:
    subject = f"=?utf-8?B?{_b64(CHINESE.encode())}?="
    parsed = parse_message(_mail(f"Subject: {subject}\r\n", CHINESE.encode()))
    assert parsed.subject == CHINESE
    assert parsed.text == CHINESE


def test_gbk_body_declared_gbk_is_decoded() -> None:
    parsed = parse_message(_mail("Subject: hi\r\n", CHINESE.encode("gbk"),
                                 content_type="text/plain; charset=GBK"))
    assert parsed.text == CHINESE


def test_gb2312_declared_text_with_gb18030_characters_is_read_as_gb18030() -> None:
    encoded = BEYOND_GB2312.encode("gb18030")
    subject = f"=?gb2312?B?{_b64(encoded)}?="
    parsed = parse_message(_mail(f"Subject: {subject}\r\n", _b64(encoded).encode(),
                                 content_type="text/plain; charset=gb2312",
                                 encoding="base64"))
    assert parsed.subject == BEYOND_GB2312
    assert parsed.text == BEYOND_GB2312


def test_rfc2047_display_name_is_decoded_and_address_normalised() -> None:
    name = f"=?gb2312?B?{_b64('王小明'.encode('gb2312'))}?="
    raw = _mail("Subject: hi\r\n", b"body").replace(
        b"From: Alice <alice@customer.test>", f"From: {name} <Wang@Customer.TEST>".encode())
    parsed = parse_message(raw)
    assert (parsed.from_name, parsed.from_addr) == ("王小明", "wang@customer.test")


def test_encoded_comma_in_display_name_does_not_forge_a_second_address() -> None:
    name = "=?utf-8?Q?evil=2C_=3Cvictim=40helpdesk.test=3E?="  # 'evil, <victim@...>'
    raw = _mail("Subject: hi\r\n", b"body").replace(
        b"From: Alice <alice@customer.test>", f"From: {name} <mallory@evil.test>".encode())
    parsed = parse_message(raw)
    assert parsed.from_addr == "mallory@evil.test"


def test_missing_charset_is_detected() -> None:
    parsed = parse_message(_mail("Subject: hi\r\n", CHINESE.encode("gbk"),
                                 content_type="text/plain"))
    assert parsed.text == CHINESE


def test_short_undeclared_gbk_text_is_read_as_chinese() -> None:
    # Four GBK bytes are valid Big5, EUC-KR and Shift-JIS too; detection alone is a coin toss.
    for text in ("您好", "您好，我的订单还没有收到"):
        assert decode_bytes(text.encode("gbk"), None) == text


def test_raw_utf8_header_is_decoded() -> None:
    raw = _mail("Subject: hi\r\n", b"x").replace(b"Subject: hi",
                                                   f"Subject: {CHINESE}".encode())
    assert parse_message(raw).subject == CHINESE


def test_unknown_or_non_text_charset_falls_back_instead_of_failing() -> None:
    assert decode_bytes("héllo".encode(), "x-no-such-charset") == "héllo"
    assert decode_bytes("héllo".encode(), "zlib") == "héllo"


def test_attachment_filename_loses_zero_width_characters() -> None:
    # FreeScout CVE-2026-28289: "x.pdf\u200b.htaccess" slipped past an extension check.
    hidden = _b64("invoice.pdf\u200b.html".encode())
    body = (b"--B\r\nContent-Type: text/plain\r\n\r\nSee attached\r\n--B\r\n"
            b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
            b'Content-Disposition: attachment; filename="=?utf-8?B?' + hidden.encode()
            + b'?="\r\n\r\nJVBERi0=\r\n--B--\r\n')
    parsed = parse_message(_mail("Subject: invoice\r\n", body,
                                 content_type='multipart/mixed; boundary="B"'))
    assert parsed.text == "See attached"
    [attachment] = parsed.attachments
    assert attachment.filename == "invoice.pdf.html"
    assert "\u200b" not in attachment.filename
    assert attachment.data == b"%PDF-"


def test_inline_image_keeps_its_content_id() -> None:
    body = (b"--R\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            b'<p>Look <img src="cid:pic1@x"></p>\r\n--R\r\n'
            b"Content-Type: image/png\r\nContent-ID: <pic1@x>\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0K\r\n--R--\r\n")
    parsed = parse_message(_mail("Subject: pic\r\n", body,
                                 content_type='multipart/related; boundary="R"'))
    [image] = parsed.attachments
    assert (image.inline, image.content_id, image.content_type) == (True, "pic1@x", "image/png")
    assert image.filename.endswith(".png")
    assert parsed.text == "Look"


def test_html_body_is_sanitised() -> None:
    html = b'<p onclick="x()">Hi<script>alert(1)</script><img src="https://track.test/p.gif"></p>'
    parsed = parse_message(_mail("Subject: hi\r\n", html, content_type="text/html; charset=utf-8"))
    assert parsed.html is not None
    assert "script" not in parsed.html and "onclick" not in parsed.html
    assert "track.test" not in parsed.html
    assert parsed.text == "Hi"


def test_threading_headers_are_extracted() -> None:
    parsed = parse_message(_mail(
        "Subject: Re: hi\r\nIn-Reply-To: <a@x>\r\nReferences: <root@x>\r\n <a@x>\r\n", b"ok"))
    assert parsed.in_reply_to == "<a@x>"
    assert parsed.references == ("<root@x>", "<a@x>")
    assert parsed.message_id == "<m1@customer.test>"


@pytest.mark.parametrize("garbage", [
    b"",
    b"\x00\xff\xfe\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20,
    b"just some words\n\nand more words",
])
def test_garbage_is_reported_as_unreadable_not_raised(garbage: bytes) -> None:
    parsed = parse_message(garbage)
    assert parsed.problem
    assert parsed.fingerprint


def test_absurdly_nested_mime_is_reported_as_unreadable() -> None:
    body = b"".join(f"--b{depth}\r\nContent-Type: multipart/mixed; boundary=b{depth + 1}"
                    f"\r\n\r\n".encode() for depth in range(200))
    parsed = parse_message(_mail("Subject: deep\r\n", body,
                                 content_type="multipart/mixed; boundary=b0"))
    assert parsed.problem == "MIME parts nested deeper than 20"


def test_broken_headers_do_not_crash_the_parser() -> None:
    raw = (b"From: <<<@@@>>>\r\nTo: \"unterminated\r\nSubject: =?utf-8?B?!!!notbase64?=\r\n"
           b"Date: yesterday-ish\r\nMessage-ID: no brackets here\r\n"
           b"Content-Type: text/plain; charset=\"\r\n\r\nbody\xff\xfe")
    parsed = parse_message(raw)
    assert parsed.from_addr == ""
    assert parsed.date is None
    assert parsed.text.startswith("body")


def test_same_mail_delivered_twice_has_one_fingerprint_and_a_reused_id_does_not() -> None:
    first = _mail("Subject: hi\r\n", b"Your parcel is on its way")
    redelivered = b"Received: from mx2.test by mx1.test\r\nDelivered-To: other@helpdesk.test\r\n" \
        + first
    reused_id = _mail("Subject: hi\r\n", b"Your parcel was delivered")
    assert parse_message(first).fingerprint == parse_message(redelivered).fingerprint
    assert parse_message(first).fingerprint != parse_message(reused_id).fingerprint
