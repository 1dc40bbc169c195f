"""compose.py: threading and loop-prevention headers on outgoing mail (pure, no app)."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from channels.email.compose import (
    LOOP_HEADER,
    MAX_REFERENCES,
    Draft,
    OutgoingAttachment,
    compose_message,
    trim_references,
)


def _draft(**changes: object) -> Draft:
    values: dict[str, object] = {
        "from_address": "support@helpdesk.test", "from_name": "Helpdesk",
        "to": "alice@customer.test", "subject": "Re: [#1] Question", "text": "Hello <b>&",
        "message_id": "<t1.abc.def@helpdesk.test>", "mail_domain": "helpdesk.test",
        "reply_to": "support+t1.sig@helpdesk.test", "in_reply_to": "<c2@customer.test>",
        "references": ("<c1@customer.test>", "<c2@customer.test>"),
    }
    values.update(changes)
    return Draft(**values)  # type: ignore[arg-type]


def _roundtrip(draft: Draft) -> EmailMessage:
    """The message as the recipient's parser sees it."""
    message = BytesParser(policy=policy.default).parsebytes(compose_message(draft).as_bytes())
    assert isinstance(message, EmailMessage)
    return message


def test_reply_carries_threading_headers_and_tokenised_reply_to() -> None:
    message = _roundtrip(_draft())
    assert message["Message-ID"] == "<t1.abc.def@helpdesk.test>"
    assert message["In-Reply-To"] == "<c2@customer.test>"
    assert message["References"] == "<c1@customer.test> <c2@customer.test>"
    assert message["Reply-To"] == "support+t1.sig@helpdesk.test"
    assert message[LOOP_HEADER] == "helpdesk.test"


def test_automatic_mail_is_marked_so_responders_stay_silent() -> None:
    message = _roundtrip(_draft(automatic=True))
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["X-Auto-Response-Suppress"] == "All"


def test_agent_reply_is_not_marked_automatic() -> None:
    assert _roundtrip(_draft())["Auto-Submitted"] is None


def test_html_part_is_escaped_text_and_attachments_are_attached() -> None:
    message = _roundtrip(_draft(attachments=(
        OutgoingAttachment("label.pdf", "application/pdf", b"%PDF-1.4"),)))
    html = message.get_body(preferencelist=("html",))
    assert html is not None and "Hello &lt;b&gt;&amp;" in html.get_content()
    [attachment] = message.iter_attachments()
    assert attachment.get_filename() == "label.pdf"
    assert attachment.get_content() == b"%PDF-1.4"


def test_long_reference_chains_keep_the_root_and_the_latest() -> None:
    chain = [f"<m{number}@x>" for number in range(50)]
    trimmed = trim_references(chain)
    assert len(trimmed) == MAX_REFERENCES
    assert trimmed[0] == "<m0@x>" and trimmed[-1] == "<m49@x>"
