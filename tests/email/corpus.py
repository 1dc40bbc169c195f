"""A deterministic corpus of helpdesk mail, with its ground truth, for the corpus test and the
email benchmarks.

    python -m tests.email.corpus N DIR [--seed 42] [--reply-rate 0.4] [--zh-rate 0.3]
                                       [--raw8bit-gbk 0.0]

Writes ``DIR/000001.eml`` … and ``DIR/manifest.json``. The manifest says, for every mail,
which conversation it belongs to, the message it answers, the unique token its body carries,
its charset, transfer encoding and body kind, and its attachments (name, size, hash), so a
reader can check that intake lost, duplicated and mis-threaded nothing.

The mix follows what a support mailbox receives: about 60 % new conversations and 40 %
replies (In-Reply-To the previous mail of the conversation, References the chain, a "Re: ",
"RE: ", "回复: " or "AW: " prefix and the previous mail quoted below); plain, HTML-only,
multipart/alternative and multipart/mixed bodies with a small .txt/.pdf/.png/.csv/.log
attachment; about 30 % Chinese conversations in UTF-8, GBK or GB2312 with RFC 2047 subjects
and names and RFC 2231 attachment names; a few Cc'd colleagues; and, on request, GBK bodies
sent as raw 8-bit bytes as old Chinese clients do.

Standard library only, and the same arguments always give byte-identical files: the
benchmarks compare runs, and a failing test must be reproducible from its seed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import html
import json
import random
import struct
import zlib
from dataclasses import dataclass, field
from email import policy
from email.header import Header
from email.message import MIMEPart
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

HELPDESK = ("Support", "support@helpdesk.example")
#: CRLF and 78-column folding: what a mail is on the wire, so parsers see real mail.
WIRE = policy.SMTP.clone(max_line_length=78)
#: Every mail starts a little after the previous one; a fixed origin keeps files identical.
ORIGIN = dt.datetime(2024, 3, 4, 8, 30, tzinfo=dt.UTC)

EN_PEOPLE = [
    ("Alice Martin", "alice.martin@acme-corp.example"),
    ("Bob Nguyen", "bob.nguyen@acme-corp.example"),
    ("Carla Rossi", "carla@rossi-design.example"),
    ("Dmitri Volkov", "d.volkov@globex.example"),
    ("Emma Schäfer", "emma.schaefer@globex.example"),
    ("François Dubois", "f.dubois@initech.example"),
    ("Grace O'Neil", "grace.oneil@initech.example"),
    ("Hiro Tanaka", "hiro@umbrella.example"),
    ("Isabel García", "isabel.garcia@umbrella.example"),
    ("Jamal Carter", "jcarter@hooli.example"),
    ("Maya Patel", "maya.patel@piedpiper.example"),
    ("Noah Fischer", "noah.fischer@acme-corp.example"),
]
ZH_PEOPLE = [
    ("王伟", "wang.wei@huaxin.example"),
    ("李娜", "li.na@huaxin.example"),
    ("张敏", "zhangmin@dongfang.example"),
    ("刘洋", "liu.yang@dongfang.example"),
    ("陈静", "chenjing@tianhe.example"),
    ("杨磊", "yanglei@tianhe.example"),
]

# Every Chinese string below is in GB2312 (checked by ``_check_gb2312``), so a conversation
# can be written in any of the three Chinese charsets without a character going missing.
EN_SUBJECTS = [
    "Cannot log in to the customer portal",
    "Invoice {number} shows the wrong amount",
    "VPN disconnects every {minutes} minutes",
    "Printer on floor {floor} keeps jamming",
    "Password reset link has expired",
    "Error 500 when exporting the monthly report",
    "Refund for order {number}",
    "Two-factor codes not arriving by SMS",
    "Mailbox quota exceeded",
    "Account locked after migration",
]
ZH_SUBJECTS = [
    "无法登录客户门户",
    "发票金额错误（订单号 {number}）",
    "VPN 每隔{minutes}分钟断开一次",
    "{floor}楼打印机经常卡纸",
    "密码重置链接已过期",
    "导出月度报表时出现500错误",
    "退款申请：订单 {number}",
    "系统迁移后账号被锁定",
]
EN_LINES = [
    "Since yesterday afternoon nobody in our team can get past the login page.",
    "I already cleared the browser cache and tried a different browser.",
    "The problem started right after last week's update.",
    "Could you please look into this soon? It blocks our month-end close.",
    "We are on the Business plan, account number {number}.",
    "Screenshots are available if that helps.",
    "Our café branch in Zürich sees the same behaviour, not just head office.",
    "Thanks in advance for your help.",
]
ZH_LINES = [
    "从昨天下午开始，我们部门所有人都无法登录系统。",
    "我已经清除了浏览器缓存，也换了别的浏览器试过。",
    "问题是在上周系统升级之后出现的。",
    "麻烦尽快处理，这影响到我们的月底结账。",
    "我们的客户编号是 {number}。",
    "如果需要截图，我可以随时提供。",
    "谢谢！",
]
EN_REPLY_LINES = [
    "Any update on this? It is still happening.",
    "Thanks, that worked for me but my colleague still has the problem.",
    "I tried the workaround you suggested, no luck unfortunately.",
    "Quick follow-up: the issue came back this morning.",
]
ZH_REPLY_LINES = [
    "请问有进展吗？问题依然存在。",
    "谢谢，我这边已经好了，但同事那边还是不行。",
    "按照您说的方法试了，还是不行。",
    "补充一下：今天早上问题又出现了。",
]
#: Attachment kinds: content type and a file stem per language. .csv and .log are in the mix
#: because some helpdesks drop them silently; ours must keep every attachment.
ATTACHMENTS = {
    ".txt": ("text/plain", "error-details", "错误信息"),
    ".pdf": ("application/pdf", "quote", "报价单"),
    ".png": ("image/png", "screenshot", "错误截图"),
    ".csv": ("text/csv", "orders", "订单明细"),
    ".log": ("text/plain", "install", "安装日志"),
}
MAILERS = ["Microsoft Outlook 16.0", "Apple Mail (2.3774)", "Mozilla Thunderbird 115.8",
           "Foxmail 7.2.25"]


@dataclass
class Conversation:
    number: int
    lang: str
    sender: tuple[str, str]
    charset: str
    subject: str
    details: dict[str, Any]
    message_ids: list[str] = field(default_factory=list)
    #: What a reply quotes: the previous mail's probe sentence, date and author.
    last_probe: str = ""
    last_date: str = ""
    last_sender: tuple[str, str] = ("", "")


def generate(n: int, directory: Path, *, seed: int = 42, reply_rate: float = 0.4,
             zh_rate: float = 0.3, raw8bit_gbk: float = 0.0) -> dict[str, Any]:
    """Write ``n`` mails and ``manifest.json`` into ``directory``; return the manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in [*directory.glob("*.eml"), directory / "manifest.json"]:
        stale.unlink(missing_ok=True)  # a shorter rerun must not leave mail of the last one
    rng = random.Random(seed)
    # Image bytes come from their own stream, so changing the picture size would not shift
    # every later choice of the corpus.
    pixels = random.Random(seed + 1)
    width = max(6, len(str(n)))
    conversations: list[Conversation] = []
    messages: list[dict[str, Any]] = []
    moment = ORIGIN
    for index in range(1, n + 1):
        moment += dt.timedelta(seconds=rng.randint(5, 240))
        token = f"CASE-{seed}-{index:0{width}d}"
        is_reply = bool(conversations) and rng.random() < reply_rate
        if is_reply:
            # Customers mostly answer recent threads: pick near the end, now and then far back.
            back = min(int(rng.expovariate(1 / 30)), len(conversations) - 1)
            conversation = conversations[-1 - back]
            people = ZH_PEOPLE if conversation.lang == "zh" else EN_PEOPLE
            # Now and then a colleague answers on the same thread.
            sender = conversation.sender if rng.random() < 0.85 else rng.choice(people)
        else:
            conversation = _new_conversation(rng, len(conversations) + 1, zh_rate)
            conversations.append(conversation)
            sender = conversation.sender
        mail, record = _mail(rng, pixels, index, token, conversation, sender, is_reply,
                             moment, raw8bit_gbk, seed)
        record["file"] = f"{index:0{width}d}.eml"
        (directory / record["file"]).write_bytes(mail)
        messages.append(record)
        conversation.message_ids.append(record["message_id"])
        conversation.last_probe = record["probe"]
        conversation.last_date = format_datetime(moment)
        conversation.last_sender = sender
    manifest = {"n": n, "seed": seed, "reply_rate": reply_rate, "zh_rate": zh_rate,
                "raw8bit_gbk": raw8bit_gbk, "conversations": len(conversations),
                "replies": sum(1 for record in messages if record["is_reply"]),
                "messages": messages}
    (directory / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", "utf-8")
    return manifest


def _new_conversation(rng: random.Random, number: int, zh_rate: float) -> Conversation:
    lang = "zh" if rng.random() < zh_rate else "en"
    if lang == "zh":
        sender = rng.choice(ZH_PEOPLE)
        charset = rng.choices(["utf-8", "gbk", "gb2312"], [50, 30, 20])[0]
    else:
        sender = rng.choice(EN_PEOPLE)
        charset = rng.choices(["utf-8", "us-ascii"], [75, 25])[0]
    details = {"number": rng.randint(10000, 99999), "minutes": rng.choice([2, 5, 10, 15]),
               "floor": rng.randint(2, 12)}
    subject = rng.choice(ZH_SUBJECTS if lang == "zh" else EN_SUBJECTS).format(**details)
    return Conversation(number, lang, sender, charset, subject, details)


def _mail(rng: random.Random, pixels: random.Random, index: int, token: str,
          conversation: Conversation, sender: tuple[str, str], is_reply: bool,
          moment: dt.datetime, raw8bit_gbk: float, seed: int) -> tuple[bytes, dict[str, Any]]:
    """One mail as bytes, and its manifest record (without ``file``)."""
    zh = conversation.lang == "zh"
    details = conversation.details
    # The probe is the sentence a reader looks for verbatim in what was stored; Chinese mail
    # gets a Chinese one, so a charset decoded wrongly shows as a missing probe.
    if zh:
        probe = f"参考编号 {token}：{rng.choice(ZH_LINES[:4]).format(**details)}"
        lines = ["你好，" if is_reply else "您好，", "", probe]
        lines += [rng.choice(ZH_REPLY_LINES if is_reply else ZH_LINES).format(**details)
                  for _ in range(rng.randint(1, 3))]
        lines += ["", "此致", sender[0]]
    else:
        probe = f"Reference {token}: {rng.choice(EN_LINES[:4]).format(**details)}"
        lines = [f"Hi {rng.choice(['team', 'support'])},", "", probe]
        lines += [rng.choice(EN_REPLY_LINES if is_reply else EN_LINES).format(**details)
                  for _ in range(rng.randint(1, 4))]
        lines += ["", "Best regards,", sender[0]]
    quote_style = ("foxmail" if zh and rng.random() < 0.5 else "attribution") if is_reply else ""
    quoted = _quote(conversation, quote_style)
    text = "\n".join(lines + quoted) + "\n"

    charset = conversation.charset
    if charset == "us-ascii" and not text.isascii():
        charset = "utf-8"  # clients label mail us-ascii only when it is
    cte = _transfer_encoding(rng, charset, zh, text, raw8bit_gbk)
    kind = rng.choices(["plain", "html", "alternative", "mixed"], [40, 15, 25, 20])[0]
    # 7bit cannot carry HTML's long lines safely; clients send HTML quoted-printable.
    html_cte = "quoted-printable" if cte == "7bit" else cte
    body = MIMEPart(policy=WIRE)
    attachments: list[dict[str, Any]] = []
    if kind == "html":
        body.set_content(_html(lines, conversation, quote_style), subtype="html",
                         charset=charset, cte=html_cte)
    else:
        body.set_content(text, subtype="plain", charset=charset, cte=cte)
    if kind in ("alternative", "mixed"):
        body.add_alternative(_html(lines, conversation, quote_style), subtype="html",
                             charset=charset, cte=html_cte)
    if kind == "mixed":
        attachments.append(_attach(rng, pixels, body, index, token, zh))
    _fix_boundaries(body, token)

    domain = sender[1].split("@")[1]
    digest = hashlib.sha256(f"{seed}:{index}".encode()).hexdigest()[:16]
    message_id = f"<{digest}.{index}@{domain}>"
    if is_reply:
        prefix = rng.choices(["Re: ", "RE: ", "回复: " if zh else "Re: ", "AW: "],
                             [60, 20, 12, 8])[0]
        subject = prefix + conversation.subject
    else:
        subject = conversation.subject
    # RFC 2047 words in the mail's own charset, as the clients of that charset write them.
    header_charset = "utf-8" if charset == "us-ascii" else charset
    headers = [("From", formataddr(sender, charset=header_charset)),
               ("To", formataddr(HELPDESK))]
    cc = None
    if rng.random() < 0.1:
        colleague = rng.choice(ZH_PEOPLE if zh else EN_PEOPLE)
        if colleague != sender:
            cc = colleague
            headers.append(("Cc", formataddr(colleague, charset=header_charset)))
    headers += [("Subject", _encoded(subject, header_charset, "Subject")),
                ("Date", format_datetime(moment)), ("Message-ID", message_id)]
    if is_reply:
        headers += [("In-Reply-To", conversation.message_ids[-1]),
                    ("References", _folded_references(conversation.message_ids[-10:]))]
    headers += [("X-Mailer", rng.choice(MAILERS)), ("MIME-Version", "1.0")]
    # The envelope headers are written by hand: the email package's modern policy would
    # re-encode every RFC 2047 word as UTF-8, and GBK / GB2312 headers are what is tested.
    head = "".join(f"{name}: {value}\r\n" for name, value in headers).encode("ascii")
    record = {
        "n": index, "token": token, "message_id": message_id, "conv": conversation.number,
        "is_reply": is_reply,
        "root_message_id": conversation.message_ids[0] if is_reply else message_id,
        "parent_message_id": conversation.message_ids[-1] if is_reply else None,
        "sender": sender[1], "cc": cc[1] if cc else None, "lang": conversation.lang,
        "charset": charset, "cte": cte, "kind": kind, "subject": subject,
        "expected_title": conversation.subject, "probe": probe,
        "quoted_probe": conversation.last_probe if quoted else None,
        "attachments": attachments,
    }
    return head + body.as_bytes(policy=WIRE), record


def _quote(conversation: Conversation, style: str) -> list[str]:
    """The previous mail as the reply's client quotes it below the new text."""
    name, address = conversation.last_sender
    if style == "foxmail":
        return ["", "------------------ 原始邮件 ------------------",
                f"发件人: {name} <{address}>", f"发送时间: {conversation.last_date}",
                f"主题: {conversation.subject}", "", conversation.last_probe]
    if style == "attribution":
        return ["", f"On {conversation.last_date}, {name} <{address}> wrote:",
                f"> {conversation.last_probe}", ">"]
    return []


def _html(lines: list[str], conversation: Conversation, quote_style: str) -> str:
    paragraphs = "".join(f"<p>{html.escape(line)}</p>\n" for line in lines if line)
    name, address = conversation.last_sender
    quote = ""
    # Each client marks its quote in HTML its own way; these are the markers helpdesks key on.
    if quote_style == "foxmail":
        quote = ('<div id="isReplyContent"><div>------------------ 原始邮件 ------------------'
                 f"</div><div>发件人: {html.escape(name)} &lt;{html.escape(address)}&gt;</div>"
                 f"<div>{html.escape(conversation.last_probe)}</div></div>\n")
    elif quote_style == "attribution":
        quote = (f'<div class="gmail_quote"><div>On {html.escape(conversation.last_date)}, '
                 f"{html.escape(name)} &lt;{html.escape(address)}&gt; wrote:</div>"
                 f"<blockquote>{html.escape(conversation.last_probe)}</blockquote></div>\n")
    return (f'<html><head><meta http-equiv="Content-Type" content="text/html"></head>\n'
            f'<body style="font-family:Arial">\n{paragraphs}{quote}</body></html>\n')


def _transfer_encoding(rng: random.Random, charset: str, zh: bool, text: str,
                       raw8bit_gbk: float) -> str:
    if charset in ("gbk", "gb2312"):
        # Old Chinese clients send GBK unencoded: bytes that are not UTF-8 in the file.
        if rng.random() < raw8bit_gbk:
            return "8bit"
        return rng.choices(["base64", "quoted-printable"], [80, 20])[0]
    if zh:
        return rng.choices(["base64", "quoted-printable", "8bit"], [50, 20, 30])[0]
    if text.isascii():
        return "7bit"
    return rng.choices(["quoted-printable", "8bit", "base64"], [50, 35, 15])[0]


def _attach(rng: random.Random, pixels: random.Random, body: MIMEPart, index: int,
            token: str, zh: bool) -> dict[str, Any]:
    extension = rng.choices(list(ATTACHMENTS), [25, 20, 25, 15, 15])[0]
    content_type, english, chinese = ATTACHMENTS[extension]
    name = f"{chinese if zh else english}-{index}{extension}"
    if extension == ".png":
        data = _png(pixels)
    elif extension == ".pdf":
        data = _pdf(f"Quote {token}")
    else:
        rows = [f"{token},{row},{rng.randint(1, 999)}.{rng.randint(0, 99):02d}"
                for row in range(rng.randint(20, 80))]
        data = ("\n".join(rows) + "\n").encode("ascii")
    maintype, subtype = content_type.split("/")
    # A non-ASCII filename is written as an RFC 2231 parameter (filename*=utf-8''…).
    body.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return {"name": name, "ext": extension, "content_type": content_type, "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest()}


def _fix_boundaries(body: MIMEPart, token: str) -> None:
    """The email package draws boundaries at random; name them after the token instead."""
    for depth, part in enumerate(part for part in body.walk() if part.is_multipart()):
        part.set_boundary(f"=_part{depth}_{token}")


def _encoded(text: str, charset: str, name: str) -> str:
    if text.isascii():
        return text
    return Header(text, charset, header_name=name).encode(linesep="\r\n")


def _folded_references(message_ids: list[str]) -> str:
    return "\r\n ".join(message_ids)  # one id per line keeps every line short


def _png(rng: random.Random, width: int = 24, height: int = 16) -> bytes:
    """A small valid RGB PNG of noise: real image bytes that do not compress away."""
    rows = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def _pdf(text: str) -> bytes:
    """A one-page PDF with a correct cross-reference table, showing ``text``."""
    stream = f"BT /F1 12 Tf 40 750 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%b\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%b\nendobj\n" % (number, body)
    table = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, table)
    return bytes(out)


def _check_gb2312() -> None:
    texts = [*ZH_SUBJECTS, *ZH_LINES, *ZH_REPLY_LINES, "参考编号", "原始邮件发件人发送时间主题",
             "你好您好此致", *(name for name, _ in ZH_PEOPLE),
             *(chinese for _, _, chinese in ATTACHMENTS.values())]
    for text in texts:
        text.encode("gb2312")  # raises at import if a string would not fit GB2312 mail


_check_gb2312()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("n", type=int, help="number of mails")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reply-rate", type=float, default=0.4)
    parser.add_argument("--zh-rate", type=float, default=0.3)
    parser.add_argument("--raw8bit-gbk", type=float, default=0.0,
                        help="fraction of GBK / GB2312 mail sent as raw 8-bit bytes")
    args = parser.parse_args(argv)
    manifest = generate(args.n, args.directory, seed=args.seed, reply_rate=args.reply_rate,
                        zh_rate=args.zh_rate, raw8bit_gbk=args.raw8bit_gbk)
    print(f"wrote {manifest['n']} mails ({manifest['conversations']} conversations, "
          f"{manifest['replies']} replies) to {args.directory}")


if __name__ == "__main__":
    main()
