"""threading.py: signed reply tokens and the order of thread matching (pure, no app)."""

from __future__ import annotations

from collections.abc import Sequence

from channels.email.parse import ParsedEmail, parse_message
from channels.email.threading import (
    agent_reply_address,
    agent_token_from_address,
    find_agent_token,
    find_thread,
    make_message_id,
    reply_address,
    reply_token,
    ticket_from_address,
    ticket_from_message_id,
    ticket_from_token,
)

SECRET = "unit-test-secret"
DOMAIN = "helpdesk.test"
REQUESTERS = {1: "alice@customer.test", 7: "bob@customer.test"}
PARTICIPANTS = {1: ["carol@customer.test"]}


def _correspondents(ticket_id: int) -> list[str]:
    requester = REQUESTERS.get(ticket_id)
    return [requester, *PARTICIPANTS.get(ticket_id, [])] if requester else []


def _mail(*, sender: str = "alice@customer.test", to: str = "support@helpdesk.test",
          subject: str = "Question", in_reply_to: str | None = None,
          extra: str = "") -> ParsedEmail:
    headers = f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <x@c.test>\r\n"
    if in_reply_to:
        headers += f"In-Reply-To: {in_reply_to}\r\n"
    return parse_message(f"{headers}{extra}\r\nbody".encode())


def _thread(parsed: ParsedEmail, known: dict[str, int] | None = None) -> tuple[int, str] | None:
    def ticket_for_message_ids(ids: Sequence[str]) -> int | None:
        return next((known[i] for i in ids if known and i in known), None)

    match = find_thread(parsed, secret=SECRET, mail_domain=DOMAIN,
                        ticket_for_message_ids=ticket_for_message_ids,
                        correspondents_of=_correspondents)
    return (match.ticket_id, match.reason) if match else None


def test_reply_token_round_trips() -> None:
    assert ticket_from_token(reply_token(42, SECRET), SECRET) == 42


def test_tampered_token_is_rejected() -> None:
    token = reply_token(42, SECRET)
    signature = token.split(".")[1]
    assert ticket_from_token(f"t43.{signature}", SECRET) is None
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    assert ticket_from_token(f"t42.{flipped}", SECRET) is None
    assert ticket_from_token(token, "another-installation's-secret") is None


def test_token_survives_a_mail_system_that_upper_cases_the_local_part() -> None:
    address = reply_address("support@helpdesk.test", 42, SECRET).upper()
    assert ticket_from_address(address, SECRET) == 42


def test_our_message_id_carries_a_verifiable_ticket() -> None:
    message_id = make_message_id(42, SECRET, DOMAIN)
    assert message_id.startswith("<t42.") and message_id.endswith(f"@{DOMAIN}>")
    assert ticket_from_message_id(message_id, SECRET, DOMAIN) == 42
    assert make_message_id(42, SECRET, DOMAIN) != message_id


def test_forged_message_id_of_our_shape_is_rejected() -> None:
    # FreeScout CVE-2026-47123: a Message-ID of the right shape was trusted without its HMAC.
    forged = "<t42.0123456789abcdef.0123456789abcdef@helpdesk.test>"
    assert ticket_from_message_id(forged, SECRET, DOMAIN) is None
    other_domain = make_message_id(42, SECRET, "elsewhere.test")
    assert ticket_from_message_id(other_domain, SECRET, DOMAIN) is None


def test_reply_to_tokenised_address_threads_even_from_another_sender() -> None:
    to = reply_address("support@helpdesk.test", 7, SECRET)
    assert _thread(_mail(sender="colleague@customer.test", to=to)) == (7, "reply-address-token")


def test_in_reply_to_our_message_id_threads() -> None:
    parsed = _mail(in_reply_to=make_message_id(7, SECRET, DOMAIN))
    assert _thread(parsed) == (7, "message-id-token")


def test_in_reply_to_a_known_customer_message_threads() -> None:
    parsed = _mail(in_reply_to="<first@customer.test>")
    assert _thread(parsed, known={"<first@customer.test>": 1}) == (1, "references")


def test_requester_subject_tag_threads() -> None:
    assert _thread(_mail(subject="Re: [#1] Question")) == (1, "subject-tag")


def test_strangers_subject_tag_does_not_thread() -> None:
    # Zammad #5064: customer B's mail with A's ticket number joined A's ticket.
    assert _thread(_mail(sender="mallory@evil.test", subject="Re: [#1] Question")) is None


def test_subject_tag_of_unknown_ticket_does_not_thread() -> None:
    assert _thread(_mail(subject="[#999] Question")) is None


def test_unrelated_mail_opens_a_new_conversation() -> None:
    assert _thread(_mail(in_reply_to="<unknown@elsewhere.test>")) is None


def test_participants_subject_tag_threads() -> None:
    assert _thread(_mail(sender="carol@customer.test", subject="Re: [#1] Question")) == (
        1, "subject-tag")


def test_participant_of_another_ticket_cannot_use_this_tag() -> None:
    assert _thread(_mail(sender="carol@customer.test", subject="Re: [#7] Question")) is None


def test_agent_token_round_trips_with_its_action() -> None:
    address = agent_reply_address("support@helpdesk.test", 42, 7, "note", SECRET)
    token = agent_token_from_address(address, SECRET)
    assert token is not None
    assert (token.ticket_id, token.agent_id, token.action) == (42, 7, "note")
    assert find_agent_token(_mail(to=address), SECRET) == token


def test_agent_token_with_another_agent_or_action_is_rejected() -> None:
    address = agent_reply_address("support@helpdesk.test", 42, 7, "note", SECRET)
    tag = address.split("+")[1].split("@")[0]
    for forged in (tag.replace(".a7.", ".a8."), tag.replace(".note.", ".reply."),
                   tag.replace("t42.", "t43.")):
        assert agent_token_from_address(f"support+{forged}@helpdesk.test", SECRET) is None


def test_customer_token_is_no_agent_token() -> None:
    # Same secret, same ticket: the customer's Reply-To must not pass as an agent's.
    customer = reply_address("support@helpdesk.test", 42, SECRET)
    assert agent_token_from_address(customer, SECRET) is None
    assert find_agent_token(_mail(to=customer), SECRET) is None


def test_agent_token_signed_with_another_secret_is_rejected() -> None:
    address = agent_reply_address("support@helpdesk.test", 42, 7, "reply", "other-secret")
    assert agent_token_from_address(address, SECRET) is None
