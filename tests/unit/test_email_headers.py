"""The email policies that make each distinct header object once (channels.email.headers)."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

from channels.email.headers import READ_POLICY, ReusedHeaders

_MAIL = (b"From: =?utf-8?b?5byg5LiJ?= <zhang@customer.test>\r\nTo: a@x.test, b@x.test\r\n"
         b"Subject: Hello\r\nMIME-Version: 1.0\r\n"
         b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
         b'--b\r\nContent-Type: text/plain; charset="gb2312"\r\n\r\nhi\r\n'
         b'--b\r\nContent-Type: application/pdf; name="a.pdf"\r\n'
         b"Content-Disposition: attachment; filename*=utf-8''%E6%8A%A5%E5%91%8A.pdf\r\n\r\n"
         b"x\r\n--b--\r\n")


def test_the_same_header_value_is_parsed_once_and_reused() -> None:
    factory = ReusedHeaders()
    first = factory("Content-Type", 'text/plain; charset="utf-8"')
    assert factory("Content-Type", 'text/plain; charset="utf-8"') is first
    other = factory("Content-Type", 'text/plain; charset="gbk"')
    assert other is not first and other.params["charset"] == "gbk"


def test_long_values_are_not_kept_and_the_cache_stays_bounded() -> None:
    factory = ReusedHeaders()
    long_value = "x" * (ReusedHeaders.MAX_VALUE + 1)
    assert factory("Subject", long_value) is not factory("Subject", long_value)
    for number in range(ReusedHeaders.MAX_ENTRIES + 10):
        factory("Subject", f"subject {number}")
    assert len(factory._made) <= ReusedHeaders.MAX_ENTRIES


def test_a_mail_reads_the_same_as_with_the_stdlib_policy() -> None:
    for _ in range(2):  # the second read comes from remembered headers
        ours = BytesParser(policy=READ_POLICY).parsebytes(_MAIL)
        stdlib = BytesParser(policy=policy.default).parsebytes(_MAIL)
        for mine, theirs in zip(ours.walk(), stdlib.walk(), strict=True):
            assert mine.get_content_type() == theirs.get_content_type()
            assert mine.get_content_charset() == theirs.get_content_charset()
            assert mine.get_filename() == theirs.get_filename()
            assert mine.get_content_disposition() == theirs.get_content_disposition()
        assert str(ours["From"]) == str(stdlib["From"])
        assert [a.addr_spec for a in ours["To"].addresses] == ["a@x.test", "b@x.test"]
        assert ours.as_bytes() == stdlib.as_bytes()
