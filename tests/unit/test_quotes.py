"""visible_reply: the new words of a reply, for the mail clients customers really use."""

from __future__ import annotations

import pytest

from channels.email.quotes import visible_reply

GMAIL = """Thanks, the export works again.

On Mon, 4 Mar 2024 at 08:30, Helpdesk <support@helpdesk.example> wrote:
> We deployed a fix.
>
> Best, Support
"""
GMAIL_WRAPPED = """Still broken for me.

On Mon, 4 Mar 2024 at 08:30, Support Team of ACME Corporation <
support+t42.0123456789abcdef@helpdesk.example> wrote:

> Please try again.
"""
GMAIL_ZH = """好的，谢谢！

在 2024年3月4日周一 08:30，Helpdesk <support@helpdesk.example> 写道：
> 我们已经修复了这个问题。
"""
OUTLOOK_EN = """The invoice is attached.

________________________________
From: Helpdesk <support@helpdesk.example>
Sent: Monday, March 4, 2024 8:30 AM
To: Alice Martin <alice@acme.example>
Subject: RE: [#42] Invoice 12345 shows the wrong amount

Could you send us the invoice?
"""
OUTLOOK_ZH = """附件是发票。

发件人: Helpdesk <support@helpdesk.example>
发送时间: 2024年3月4日 8:30
收件人: 王伟 <wang.wei@huaxin.example>
主题: 回复: [#42] 发票金额错误

请把发票发给我们。
"""
OUTLOOK_ORIGINAL = """Please close the ticket.

-----Original Message-----
From: Helpdesk [mailto:support@helpdesk.example]
Sent: Monday, March 4, 2024 8:30 AM
Subject: [#42] Solved?
"""
APPLE = """Yes, that fixed it.

Sent from my iPhone

> On 4 Mar 2024, at 08:30, Helpdesk <support@helpdesk.example> wrote:
>
> Does it work now?
"""
# RFC 3676's separator is "-- " with a trailing space.
THUNDERBIRD = """It crashes again at step 3.

""" + "-- " + """
Carla Rossi
Rossi Design

On 04.03.24 08:30, Helpdesk wrote:
> Which step fails?
"""
QQ_FOXMAIL = """问题依然存在。

------------------ 原始邮件 ------------------
发件人: "Helpdesk"<support@helpdesk.example>;
发送时间: 2024年3月4日(星期一) 上午8:30
收件人: "张敏"<zhangmin@dongfang.example>;
主题: 回复: [#42] 无法登录客户门户

请问问题解决了吗？
"""
QQ_ENGLISH = """Still not working.

------------------ Original ------------------
From: "Helpdesk"<support@helpdesk.example>;
Date: Mon, Mar 4, 2024 08:30 AM
"""
NETEASE = """收到，谢谢。

发自网易邮箱大师

在 2024-03-04 08:30:00，"Helpdesk" <support@helpdesk.example> 写道：
>请确认是否解决。
"""
HUAWEI = """可以了

发自我的华为手机
"""
IPHONE_ZH = """好的

发自我的iPhone
"""
BOTTOM_QUOTE = """Thanks!

> Your ticket has been solved.
> Reply if you need more help.
"""

CASES = [
    ("gmail", GMAIL, "Thanks, the export works again."),
    ("gmail attribution wrapped over two lines", GMAIL_WRAPPED, "Still broken for me."),
    ("gmail in Chinese", GMAIL_ZH, "好的，谢谢！"),
    ("outlook header block", OUTLOOK_EN, "The invoice is attached."),
    ("outlook in Chinese", OUTLOOK_ZH, "附件是发票。"),
    ("outlook original message", OUTLOOK_ORIGINAL, "Please close the ticket."),
    ("apple mail from an iPhone", APPLE, "Yes, that fixed it."),
    ("thunderbird with a signature", THUNDERBIRD, "It crashes again at step 3."),
    ("qq mail and foxmail", QQ_FOXMAIL, "问题依然存在。"),
    ("qq mail in English", QQ_ENGLISH, "Still not working."),
    ("netease 163/126 with its app signature", NETEASE, "收到，谢谢。"),
    ("huawei phone", HUAWEI, "可以了"),
    ("iphone in Chinese", IPHONE_ZH, "好的"),
    ("bottom quote without attribution", BOTTOM_QUOTE, "Thanks!"),
]


@pytest.mark.parametrize(("client", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_quoted_history_and_signature_are_removed(client: str, text: str, expected: str) -> None:
    assert visible_reply(text) == expected


KEPT = [
    ("a line that merely starts with From:",
     "From: my manager, we need this by Friday.\nSubject: the Q3 invoices are wrong too."),
    ("inline answers between quoted lines",
     "> Which browser?\nFirefox 124.\n> Which step?\nThe export step."),
    ("dashes in a table", "Totals\n--\n12\n--\n14\n15\n16\n17\n18\n19\n20\n21\n22\n23\n24\n25"),
    ("a mail that is nothing but a quote",
     "On Mon, 4 Mar 2024 at 08:30, Helpdesk <support@helpdesk.example> wrote:\n> Hello"),
    ("plain text with no markers", "The VPN drops every 5 minutes.\nPlease help."),
    ("the phrase sent from my phone inside a sentence",
     "I sent from my iPhone yesterday but it failed.\nToday it works."),
]


@pytest.mark.parametrize(("case", "text"), KEPT, ids=[k[0] for k in KEPT])
def test_text_is_kept_when_there_is_no_real_quote_marker(case: str, text: str) -> None:
    assert visible_reply(text) == text.strip()


def test_html_marker_is_used_when_the_text_part_has_none() -> None:
    html = ('<div dir="ltr">Works now, thanks.</div><br><div class="gmail_quote">'
            '<div class="gmail_attr">Someone wrote</div><blockquote>old</blockquote></div>')

    assert visible_reply("Works now, thanks.\nSomeone wrote\nold", html) == "Works now, thanks."


def test_windows_line_endings_are_understood() -> None:
    assert visible_reply(GMAIL.replace("\n", "\r\n")) == "Thanks, the export works again."
