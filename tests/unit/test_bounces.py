"""bounces.detect on the delivery reports real mailers send (RFC 3464 and plain text)."""

from __future__ import annotations

import base64

import pytest

from channels.email.bounces import detect
from channels.email.parse import parse_message

OURS = "<t42.a1b2c3d4e5f60718.0123456789abcdef@helpdesk.test>"
ORIGINAL = (f"From: Helpdesk <support@helpdesk.test>\r\nTo: gone@customer.test\r\n"
            f"Subject: [#42] Your request\r\nMessage-ID: {OURS}\r\n\r\nHello\r\n")


def _report(sender: str, subject: str, body: str, *, content_type: str = "text/plain",
            extra: str = "") -> bytes:
    return (f"From: {sender}\r\nTo: support@helpdesk.test\r\nSubject: {subject}\r\n"
            f"Date: Mon, 04 Mar 2024 08:31:00 +0000\r\nMessage-ID: <bounce-1@mx.test>\r\n"
            f"{extra}MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n{body}").encode()


def _dsn(actions: list[tuple[str, str]], original: str = ORIGINAL,
         original_type: str = "message/rfc822") -> bytes:
    recipients = "".join(f"\r\nFinal-Recipient: rfc822; {address}\r\nAction: {action}\r\n"
                         f"Status: 5.1.1\r\n" for address, action in actions)
    body = ("--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
            "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
            f"Reporting-MTA: dns; mx.customer.test\r\n{recipients}\r\n"
            f"--b\r\nContent-Type: {original_type}\r\n\r\n{original}\r\n--b--\r\n")
    return _report("Mail Delivery System <MAILER-DAEMON@mx.test>",
                   "Undelivered Mail Returned to Sender", body,
                   content_type='multipart/report; report-type=delivery-status; boundary="b"')


def test_rfc3464_report_names_the_failed_recipient_and_our_message() -> None:
    bounce = detect(parse_message(_dsn([("Gone@Customer.test", "failed")])))
    assert bounce is not None
    assert (bounce.recipients, bounce.original_message_id, bounce.kind) == (
        ("gone@customer.test",), OURS, "dsn")


def test_delay_notice_is_a_report_without_failed_recipients() -> None:
    bounce = detect(parse_message(_dsn([("slow@customer.test", "delayed")])))
    assert bounce is not None and bounce.recipients == ()


def test_report_with_only_the_original_headers_still_names_our_message() -> None:
    headers_only = ORIGINAL.split("\r\n\r\n")[0] + "\r\n"
    bounce = detect(parse_message(_dsn([("gone@customer.test", "failed")], headers_only,
                                       "text/rfc822-headers")))
    assert bounce is not None and bounce.original_message_id == OURS


QUOTED_ORIGINAL = ORIGINAL.replace("\r\n", "\n")
PLAIN_REPORTS = [
    ("qmail", "MAILER-DAEMON@mail.customer.test", "failure notice",
     "Hi. This is the qmail-send program at mail.customer.test.\n"
     "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
     "<gone@customer.test>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
     f"--- Below this line is a copy of the message.\n\n{QUOTED_ORIGINAL}"),
    ("postfix", "MAILER-DAEMON@mx.customer.test", "Undelivered Mail Returned to Sender",
     "This is the mail system at host mx.customer.test.\n\n"
     "I'm sorry to have to inform you that your message could not\nbe delivered.\n\n"
     "<gone@customer.test>: host mx said: 550 5.1.1 User unknown\n\n"
     f"Original message headers\n{QUOTED_ORIGINAL}"),
    ("sendmail", "Mail Delivery Subsystem <MAILER-DAEMON@customer.test>",
     "Returned mail: see transcript for details",
     "The original message was received at Mon, 4 Mar 2024 from helpdesk.test\n\n"
     "   ----- The following addresses had permanent fatal errors -----\n"
     "<gone@customer.test>\n    (reason: 550 5.1.1 User unknown)\n\n"
     f"   ----- Original message follows -----\n{QUOTED_ORIGINAL}"),
    ("exim", "Mail Delivery System <Mailer-Daemon@customer.test>",
     "Mail delivery failed: returning message to sender",
     "This message was created automatically by mail delivery software.\n\n"
     "A message that you sent could not be delivered to one or more of its\n"
     "recipients. This is a permanent error. The following address(es) failed:\n\n"
     "  gone@customer.test\n    SMTP error from remote mail server after RCPT TO\n\n"
     f"------ This is a copy of the message, including all the headers. ------\n"
     f"{QUOTED_ORIGINAL}"),
    ("gmail", "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
     "Delivery Status Notification (Failure)",
     "** Address not found **\n\nYour message wasn't delivered to gone@customer.test because "
     "the address couldn't be found.\n\n----- Original message -----\n\n"
     f"{QUOTED_ORIGINAL}"),
    ("exchange", "Microsoft Outlook <postmaster@customer.test>", "Undeliverable: Your request",
     "Delivery has failed to these recipients or groups:\n\n"
     "gone@customer.test (gone@customer.test)\nThe email address you entered couldn't be "
     f"found.\n\nOriginal message headers:\n\n{QUOTED_ORIGINAL}"),
    ("qq mail 退信", "PostMaster@qq.com", "系统退信",
     "很抱歉您发送的邮件被退回，以下是该邮件的相关信息：\n"
     "收件人：gone@customer.test\n退信原因：收件人邮箱不存在\n\n"
     f"------------------ 原始邮件 ------------------\n{QUOTED_ORIGINAL}"),
    ("netease 163 退信", "Postmaster@163.com", "系统退信",
     "抱歉，您的邮件被退回来了……\n原邮件信息：\n收件人：gone@customer.test\n"
     f"退信原因：无法发送到 gone@customer.test\n\n原信\n{QUOTED_ORIGINAL}"),
]


@pytest.mark.parametrize(("mailer", "sender", "subject", "body"), PLAIN_REPORTS,
                         ids=[report[0] for report in PLAIN_REPORTS])
def test_plain_text_bounce_is_recognised(mailer: str, sender: str, subject: str,
                                         body: str) -> None:
    encoded = base64.b64encode(body.encode()).decode()
    raw = _report(sender, f"=?utf-8?B?{base64.b64encode(subject.encode()).decode()}?=",
                  encoded, content_type="text/plain; charset=utf-8",
                  extra="Content-Transfer-Encoding: base64\r\n")
    bounce = detect(parse_message(raw))
    assert bounce is not None
    assert (bounce.recipients, bounce.original_message_id) == (("gone@customer.test",), OURS)


def test_customer_quoting_a_bounce_sentence_is_not_a_bounce() -> None:
    raw = _report("Alice <alice@customer.test>", "Your mail bounced?",
                  "I got: could not be delivered to one or more of its recipients. Why?")
    assert detect(parse_message(raw)) is None


def test_ordinary_mail_is_not_a_bounce() -> None:
    assert detect(parse_message(_report("alice@customer.test", "Hello", "Hi there"))) is None
