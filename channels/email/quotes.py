"""The new part of a reply: quoted history and signatures removed. Pure (no Flask, no SQL).

Mail clients append the whole conversation below (or above) what the customer wrote; an agent
wants only the new words, and the ticket already holds the history. Each client marks the
quote its own way, so this is a list of the real markers seen in mail from Gmail, Outlook
(English and Chinese), Apple Mail, Thunderbird, QQ Mail / Foxmail, NetEase 163/126 and the
mobile clients, plus the RFC 3676 signature separator.

Conservative by design: a marker must look like what a client writes (a whole header block,
not one line that happens to start with "From:"), inline answers between quoted lines are
kept, and when cutting would leave nothing the text is returned as it was. Losing a
customer's words is worse than showing a quote (talon #129, email_reply_parser #33).
"""

from __future__ import annotations

import re

from channels.email.parse import html_to_text

#: A line that, on its own, starts the quoted history.
_QUOTE_SEPARATORS = re.compile(
    r"""^\s*(?:
        -{2,}\s*(?:Original\s+Message|Forwarded\s+by.*|原始邮件|Original)\s*-{2,}  # Outlook, QQ
        | -{5,}\s*原始邮件\s*-{5,}                                                # NetEase
        | _{20,}                                        # Outlook's rule above its header block
        | -{3,}\s*Reply\s+above\s+this\s+line\s*-{3,}
    )\s*$""", re.IGNORECASE | re.VERBOSE)
#: "On <date>, <name> wrote:" (Gmail, Apple Mail, Thunderbird, K-9) and the Chinese forms
#: "在 <date>，<name> 写道：" (Gmail zh, NetEase, Foxmail) / "<name> 于 <date> 写道：".
#: Clients wrap it, so it is matched on up to three joined lines.
_ATTRIBUTION = re.compile(
    r"""^\s*(?:
        (?:On|Am|Le|El|Il|Op)\s.{4,300}(?:wrote|schrieb|a\s+écrit|escribió|ha\s+scritto|schreef)\s*:
        | 在.{4,300}写道\s*[:：]
        | .{1,200}于.{4,200}写道\s*[:：]
    )\s*$""", re.IGNORECASE | re.VERBOSE)
#: The first line of an Outlook-style header block, and the fields that must follow it.
_HEADER_START = re.compile(r"^\s*\*?(?:From|发件人|寄件者)\s*\*?\s*[:：]", re.IGNORECASE)
_HEADER_FIELD = re.compile(
    r"^\s*\*?(?:Sent|Date|To|Cc|Subject|发送时间|日期|时间|收件人|抄送|主题|傳送時間|收件者|主旨)"
    r"\s*\*?\s*[:：]", re.IGNORECASE)
#: Signature lines mobile clients and webmail add on their own.
_DEVICE_SIGNATURE = re.compile(
    r"""^\s*(?:
        Sent\s+from\s+my\s+\S.{0,40}
        | Sent\s+from\s+(?:Mail|Outlook)\s+for\s+\S.{0,30}
        | Get\s+Outlook\s+for\s+\S.{0,20}
        | Sent\s+(?:from|with|via)\s+(?:Yahoo|Proton|Gmail|Samsung|BlackBerry|Huawei)\b.{0,40}
        | 发自我的\s*\S.{0,20}
        | 来自我的\s*\S.{0,20}
        | 从我的\s*\S.{0,20}发送
        | 发自(?:网易邮箱大师|网易邮箱|QQ邮箱|移动版QQ邮箱|Outlook|钉钉|企业微信).{0,20}
        | 來自我的\s*\S.{0,20}
    )\s*$""", re.IGNORECASE | re.VERBOSE)
#: RFC 3676 §4.3: "-- " alone on a line starts the signature (many clients drop the space).
_SIGNATURE_SEPARATOR = re.compile(r"^--\s?$")
#: A signature is short; a "-- " line followed by a long text is something else.
_MAX_SIGNATURE_LINES = 12
#: Where HTML bodies start their quoted history (same clients, their HTML forms).
_HTML_QUOTE_MARKERS = (
    'class="gmail_quote', "class='gmail_quote", 'id="divRplyFwdMsg"', 'id="appendonsend"',
    'class="moz-cite-prefix"', '<blockquote type="cite"', 'id="isReplyContent"',
    'id="reply-content"', "原始邮件", "------------------&nbsp;Original",
)


def visible_reply(text: str, html: str | None = None) -> str:
    """The part of a reply its author wrote now: ``text`` without quoted history and
    signature. ``html`` is used when the text has no recognisable marker (some clients mark
    the quote only in HTML). Returns ``text`` unchanged when unsure."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = _quote_start(lines)
    if cut is None and html:
        from_html = _visible_from_html(html)
        if from_html:
            return from_html
    kept = _without_trailing_quote(lines[:cut] if cut is not None else lines)
    kept = _without_signature(kept)
    visible = "\n".join(kept).strip()
    return visible if visible else text.strip()


def _quote_start(lines: list[str]) -> int | None:
    """Index of the first line of quoted history, or ``None``."""
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        if _QUOTE_SEPARATORS.match(line) or _is_header_block(lines, index):
            return index
        for span in (1, 2, 3):
            joined = " ".join(part.strip() for part in lines[index:index + span])
            if _ATTRIBUTION.match(joined):
                return index
    return None


def _is_header_block(lines: list[str], index: int) -> bool:
    """A "From:" line followed by at least two more header fields (Outlook, Foxmail)."""
    if not _HEADER_START.match(lines[index]):
        return False
    following = [line for line in lines[index + 1:index + 7] if line.strip()]
    return sum(1 for line in following[:5] if _HEADER_FIELD.match(line)) >= 2


def _without_signature(lines: list[str]) -> list[str]:
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if _DEVICE_SIGNATURE.match(line) and _only_blank_after(lines, index, limit=2):
            return lines[:index]
        if _SIGNATURE_SEPARATOR.match(line) and len(lines) - index <= _MAX_SIGNATURE_LINES:
            return lines[:index]
    return lines


def _only_blank_after(lines: list[str], index: int, *, limit: int) -> bool:
    rest = [line for line in lines[index + 1:] if line.strip()]
    return len(rest) <= limit


def _without_trailing_quote(lines: list[str]) -> list[str]:
    """Drop a block of ``>`` lines at the end (bottom-posted quote without attribution).
    Quote lines *between* new lines are an inline answer and stay."""
    end = len(lines)
    while end and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith(">")):
        end -= 1
    if any(line.lstrip().startswith(">") for line in lines[end:]):
        return lines[:end]
    return lines


def _visible_from_html(html: str) -> str:
    positions = [position for marker in _HTML_QUOTE_MARKERS
                 if (position := html.find(marker)) > 0]
    if not positions:
        return ""
    head = html[:min(positions)]
    # The marker sits inside its opening tag: cut back to that tag's "<".
    head = head[:head.rfind("<")] if head.rfind("<") > head.rfind(">") else head
    return "\n".join(_without_signature(html_to_text(head).split("\n"))).strip()
