"""vetting.py: loops, auto-replies, bounces and size are caught and explained (pure)."""

from __future__ import annotations

import pytest

from channels.email.parse import ParsedEmail, parse_message
from channels.email.vetting import AUTOREPLY_LIMIT_PER_HOUR, Action, Context, Verdict, vet

OURS = {"support@helpdesk.test", "billing@helpdesk.test"}


def _vet(headers: str = "", sender: str = "alice@customer.test", size: int = 1000,
         recent_tickets: int = 0) -> Verdict:
    raw = (f"From: {sender}\r\nTo: support@helpdesk.test\r\nSubject: hi\r\n"
           f"Message-ID: <a@b>\r\n{headers}\r\nbody").encode()
    return vet(parse_message(raw), Context(size=size, our_addresses=OURS,
                                           mail_domain="helpdesk.test", max_bytes=10_000,
                                           recent_tickets_from_sender=recent_tickets))


def _rules(verdict: Verdict) -> list[str]:
    return [hit.rule for hit in verdict.hits]


def test_ordinary_customer_mail_is_accepted_with_autoreply() -> None:
    verdict = _vet()
    assert (verdict.action, verdict.hits, verdict.allows_autoreply) == (Action.ACCEPT, (), True)


def test_our_own_loop_header_drops_the_mail() -> None:
    verdict = _vet("X-Helpdesk-Loop: helpdesk.test\r\n")
    assert verdict.action == Action.DROP
    assert _rules(verdict) == ["own-loop-header"]


def test_another_helpdesks_loop_header_is_not_ours() -> None:
    assert _vet("X-Helpdesk-Loop: other.test\r\n").action == Action.ACCEPT


def test_mail_from_our_own_address_is_dropped_even_with_a_plus_tag() -> None:
    assert _vet(sender="Support+t1.abc@helpdesk.test").action == Action.DROP


def test_out_of_office_is_accepted_without_autoreply() -> None:
    verdict = _vet("Auto-Submitted: auto-replied\r\n")
    assert verdict.action == Action.ACCEPT_WITHOUT_AUTOREPLY
    assert not verdict.allows_autoreply
    assert _rules(verdict) == ["auto-submitted"]


def test_auto_submitted_no_is_a_human() -> None:
    assert _vet("Auto-Submitted: no\r\n").action == Action.ACCEPT


def test_bulk_precedence_and_list_mail_get_no_autoreply() -> None:
    assert _vet("Precedence: bulk\r\n").action == Action.ACCEPT_WITHOUT_AUTOREPLY
    assert _vet("List-Id: <news.shop.test>\r\n").action == Action.ACCEPT_WITHOUT_AUTOREPLY
    assert _vet("X-Autoreply: yes\r\n").action == Action.ACCEPT_WITHOUT_AUTOREPLY


def test_bounces_are_quarantined() -> None:
    assert _vet("Return-Path: <>\r\n").action == Action.QUARANTINE
    assert _rules(_vet(sender="MAILER-DAEMON@mx.customer.test")) == ["bounce"]
    report = 'Content-Type: multipart/report; report-type=delivery-status; boundary="x"\r\n'
    assert _vet(report).action == Action.QUARANTINE


def test_sender_opening_many_tickets_an_hour_gets_no_more_acknowledgements() -> None:
    assert _vet(recent_tickets=AUTOREPLY_LIMIT_PER_HOUR - 1).action == Action.ACCEPT
    verdict = _vet(recent_tickets=AUTOREPLY_LIMIT_PER_HOUR)
    assert (verdict.action, _rules(verdict)) == (Action.ACCEPT_WITHOUT_AUTOREPLY,
                                                 ["autoreply-rate"])


def test_oversize_mail_is_quarantined() -> None:
    verdict = _vet(size=10_001)
    assert (verdict.action, _rules(verdict)) == (Action.QUARANTINE, ["oversize"])


def test_mail_without_sender_is_quarantined() -> None:
    assert _vet(sender="not an address").action == Action.QUARANTINE


def test_every_hit_is_recorded_and_the_most_severe_wins() -> None:
    verdict = _vet("Auto-Submitted: auto-replied\r\nReturn-Path: <>\r\n")
    assert verdict.action == Action.QUARANTINE
    assert _rules(verdict) == ["bounce", "auto-submitted"]
    assert "bounce: null Return-Path" in verdict.reason


def _vet_subject(subject: str, headers: str = "") -> Verdict:
    raw = (f"From: bob@customer.test\r\nTo: support@helpdesk.test\r\nSubject: {subject}\r\n"
           f"Message-ID: <o@b>\r\n{headers}Content-Type: text/plain; charset=utf-8\r\n\r\n"
           f"I am away.").encode()
    return vet(parse_message(raw), Context(our_addresses=OURS, mail_domain="helpdesk.test"))


@pytest.mark.parametrize("subject", [
    "Automatic reply: Invoice 123", "Auto-Reply: your message", "Out of Office: back Monday",
    "AutoReply", "自动回复: 发票问题", "自动回复：您的邮件已收到", "休假中 - 自动回复",
    "Abwesenheitsnotiz: Rechnung", "Réponse automatique : facture", "自動回覆：您好",
    "=?utf-8?B?6Ieq5Yqo5Zue5aSN?= 发票",
])
def test_out_of_office_subjects_get_no_autoreply(subject: str) -> None:
    verdict = _vet_subject(subject)
    assert verdict.action == Action.ACCEPT_WITHOUT_AUTOREPLY
    assert _rules(verdict) == ["out-of-office"]


@pytest.mark.parametrize("subject", ["Re: auto reply settings in your product",
                                     "Office 365 login fails", "我的自动续费被扣了两次"])
def test_subjects_merely_mentioning_such_words_are_accepted(subject: str) -> None:
    assert _vet_subject(subject).action == Action.ACCEPT


def test_x_auto_response_suppress_gets_no_autoreply() -> None:
    verdict = _vet_subject("Question", "X-Auto-Response-Suppress: DR, OOF, AutoReply\r\n")
    assert _rules(verdict) == ["auto-response-suppress"]
    assert not verdict.allows_autoreply


def test_blocked_sender_and_blocked_domain_are_dropped() -> None:
    raw = _raw_from("spammer@junk.test")
    by_address = vet(raw, Context(blocked_senders={"spammer@junk.test"}))
    by_domain = vet(raw, Context(blocked_senders={"@junk.test"}))
    other = vet(_raw_from("alice@customer.test"), Context(blocked_senders={"@junk.test"}))
    assert (by_address.action, _rules(by_address)) == (Action.DROP, ["blocked-sender"])
    assert by_domain.action == Action.DROP
    assert other.action == Action.ACCEPT


def test_unreadable_mail_is_quarantined_with_the_reason() -> None:
    verdict = vet(parse_message(b"\x00\x01 not a mail"))
    assert verdict.action == Action.QUARANTINE
    assert verdict.hits[0].rule == "unreadable"
    assert "not an email" in verdict.reason


def _raw_from(sender: str) -> ParsedEmail:
    return parse_message(f"From: {sender}\r\nSubject: hi\r\nMessage-ID: <x@y>\r\n\r\nhi".encode())
