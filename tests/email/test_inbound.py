"""Inbound mail end to end: real Dovecot IMAP -> poller -> ingest -> tickets -> SMTP sink."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from channels.email import poller
from channels.email.models import Mailbox, RawEmail
from channels.email.poller import poll_all, poll_mailbox
from channels.email.threading import reply_address
from channels.email.vetting import AUTOREPLY_LIMIT_PER_HOUR
from helpdesk import jobs
from helpdesk.db import db
from helpdesk.teams.operations import create_team
from helpdesk.tickets.models import Attachment, Message, Ticket
from helpdesk.tickets.storage import path_of
from tests.email.conftest import SUPPORT, ImapAccount, customer_mail, make_mailbox, new_account
from tests.services import SmtpSink


def _tickets() -> list[Ticket]:
    return list(db.session.scalars(select(Ticket).order_by(Ticket.id)))


def _raw_emails() -> list[RawEmail]:
    return list(db.session.scalars(select(RawEmail).order_by(RawEmail.id)))


def _messages(ticket: Ticket) -> list[Message]:
    return list(db.session.scalars(
        select(Message).where(Message.ticket_id == ticket.id).order_by(Message.id)))


def _acknowledgement(smtp_sink: SmtpSink) -> EmailMessage:
    [received] = smtp_sink.wait_for(1)
    return received.message


def test_mail_becomes_ticket_and_acknowledgement_carries_our_message_id_and_reply_token(
        app: Flask, mailbox: Mailbox, imap: ImapAccount, smtp_sink: SmtpSink) -> None:
    imap.deliver(customer_mail(subject="Parcel missing", body="Order 1234 never came.",
                               message_id="<first@customer.test>"))

    assert poll_mailbox(mailbox.id) == 1

    [ticket] = _tickets()
    assert (ticket.subject, ticket.channel, ticket.customer.email) == (
        "Parcel missing", "email", "alice@customer.test")
    [message] = _messages(ticket)
    assert message.body_text == "Order 1234 never came."
    assert message.rfc_message_id == "<first@customer.test>"
    [raw_email] = _raw_emails()
    assert message.source_ref == f"raw_email:{raw_email.id}"
    assert (raw_email.status, raw_email.verdict, raw_email.ticket_id) == (
        "ingested", "accept", ticket.id)
    ack = _acknowledgement(smtp_sink)
    assert ack["To"] == "alice@customer.test"
    assert ack["Message-ID"].startswith(f"<t{ticket.id}.")
    assert ack["Message-ID"].endswith("@helpdesk.test>")
    assert ack["Reply-To"] == reply_address(SUPPORT, ticket.id, app.config["SECRET_KEY"])
    assert ack["In-Reply-To"] == "<first@customer.test>"
    assert ack["Auto-Submitted"] == "auto-replied"


def test_customer_reply_to_acknowledgement_lands_on_same_ticket(
        app: Flask, mailbox: Mailbox, imap: ImapAccount, smtp_sink: SmtpSink) -> None:
    imap.deliver(customer_mail(message_id="<first@customer.test>"))
    poll_mailbox(mailbox.id)
    ack = _acknowledgement(smtp_sink)

    imap.deliver(customer_mail(subject="Re: [#1] My order has not arrived", body="Any news?",
                               to=ack["Reply-To"], in_reply_to=ack["Message-ID"],
                               references=["<first@customer.test>", ack["Message-ID"]]))
    poll_mailbox(mailbox.id)

    [ticket] = _tickets()
    assert [message.body_text for message in _messages(ticket)] == ["Where is it?", "Any news?"]
    assert _raw_emails()[1].thread_reason == "reply-address-token"
    assert len(smtp_sink.messages) == 1, "a follow-up is not acknowledged again"


def test_reply_from_client_that_drops_reply_to_still_threads_by_in_reply_to(
        app: Flask, mailbox: Mailbox, imap: ImapAccount, smtp_sink: SmtpSink) -> None:
    imap.deliver(customer_mail())
    poll_mailbox(mailbox.id)
    ack = _acknowledgement(smtp_sink)

    imap.deliver(customer_mail(subject="Re: your mail", in_reply_to=ack["Message-ID"]))
    poll_mailbox(mailbox.id)

    assert len(_tickets()) == 1
    assert _raw_emails()[1].thread_reason == "message-id-token"


def test_polling_twice_makes_no_duplicate(
        app: Flask, mailbox: Mailbox, imap: ImapAccount) -> None:
    imap.deliver(customer_mail())

    assert poll_mailbox(mailbox.id) == 1
    assert poll_mailbox(mailbox.id) == 0

    assert len(_tickets()) == 1
    assert len(_raw_emails()) == 1


def test_server_seen_flag_is_set_after_the_mail_is_stored(
        app: Flask, mailbox: Mailbox, imap: ImapAccount) -> None:
    uid = imap.deliver(customer_mail())
    assert uid is not None
    assert b"\\Seen" not in imap.flags()[uid]

    poll_mailbox(mailbox.id)

    assert b"\\Seen" in imap.flags()[uid]


def test_mail_stays_unread_and_unfetched_when_storing_it_fails(
        app: Flask, mailbox: Mailbox, imap: ImapAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    uid = imap.deliver(customer_mail(subject="Survives a database outage"))
    assert uid is not None

    def database_down(*args: object, **kwargs: object) -> None:
        raise OperationalError("INSERT", {}, Exception("database is down"))

    with monkeypatch.context() as patch:
        patch.setattr(jobs, "enqueue", database_down)
        with pytest.raises(OperationalError):
            poll_mailbox(mailbox.id)

    assert b"\\Seen" not in imap.flags()[uid], "fetching must not mark mail read"
    assert _raw_emails() == []
    refreshed = db.session.get(Mailbox, mailbox.id)
    assert refreshed is not None and refreshed.last_error is not None
    assert poll_mailbox(mailbox.id) == 1
    assert [ticket.subject for ticket in _tickets()] == ["Survives a database outage"]


def test_mail_already_read_by_another_client_is_still_fetched(
        app: Flask, mailbox: Mailbox, imap: ImapAccount) -> None:
    # FreeScout fetched only UNSEEN mail; whatever a human opened first was lost silently.
    imap.deliver(customer_mail(subject="Read on a phone first"), flags=["\\Seen"])

    poll_mailbox(mailbox.id)

    assert [ticket.subject for ticket in _tickets()] == ["Read on a phone first"]


def test_malformed_mail_is_quarantined_with_raw_bytes_kept_and_does_not_block_the_next(
        app: Flask, mailbox: Mailbox, imap: ImapAccount) -> None:
    garbage = b"\x01binary junk without any header\r\n\r\n\xff\xfe\x89PNG"
    imap.deliver(garbage)
    imap.deliver(customer_mail(subject="After the junk"))

    poll_mailbox(mailbox.id)

    quarantined, ingested = _raw_emails()
    assert quarantined.status == "quarantined"
    assert quarantined.raw == garbage
    assert quarantined.error is not None and "not an email" in quarantined.error
    assert quarantined.ticket_id is None
    assert ingested.status == "ingested"
    assert [ticket.subject for ticket in _tickets()] == ["After the junk"]


def test_mailbox_with_wrong_password_does_not_stop_other_mailboxes(
        app: Flask, imap: ImapAccount, smtp_sink: SmtpSink) -> None:
    broken = make_mailbox(new_account(imap.server), name="broken",
                          address="sales@helpdesk.test", password="wrong-password")
    working = make_mailbox(imap, name="support")
    imap.deliver(customer_mail(subject="Still arrives"))

    poll_all()

    db.session.expire_all()
    broken_now = db.session.get(Mailbox, broken.id)
    working_now = db.session.get(Mailbox, working.id)
    assert broken_now is not None and working_now is not None
    assert broken_now.last_error is not None and broken_now.last_polled_at is None
    assert "wrong-password" not in broken_now.last_error
    assert working_now.last_error is None and working_now.last_polled_at is not None
    assert [ticket.subject for ticket in _tickets()] == ["Still arrives"]


def test_same_mail_to_two_of_our_mailboxes_makes_one_ticket(
        app: Flask, imap: ImapAccount, smtp_sink: SmtpSink) -> None:
    sales_account = new_account(imap.server)
    support = make_mailbox(imap, name="support")
    sales = make_mailbox(sales_account, name="sales", address="sales@helpdesk.test")
    mail = customer_mail(to=f"{SUPPORT}, sales@helpdesk.test", message_id="<both@customer.test>")
    imap.deliver(b"Delivered-To: support@helpdesk.test\r\n" + mail)
    sales_account.deliver(b"Delivered-To: sales@helpdesk.test\r\n" + mail)

    poll_mailbox(support.id)
    poll_mailbox(sales.id)

    [ticket] = _tickets()
    first, second = _raw_emails()
    assert (first.status, second.status) == ("ingested", "duplicate")
    assert second.ticket_id == ticket.id
    assert len(smtp_sink.wait_for(1)) == 1


def test_reused_message_id_with_different_content_is_not_a_duplicate(
        app: Flask, mailbox: Mailbox, imap: ImapAccount) -> None:
    # FreeScout #5591: a vendor reused one Message-ID and the second mail vanished.
    imap.deliver(customer_mail(subject="Shipment notice", body="Parcel A shipped",
                               message_id="<notice@vendor.test>"))
    poll_mailbox(mailbox.id)
    imap.deliver(customer_mail(subject="Shipment notice", body="Parcel B shipped",
                               message_id="<notice@vendor.test>"))
    poll_mailbox(mailbox.id)

    assert [raw.status for raw in _raw_emails()] == ["ingested", "ingested"]
    bodies = [message.body_text for ticket in _tickets() for message in _messages(ticket)]
    assert bodies == ["Parcel A shipped", "Parcel B shipped"]


def test_uidvalidity_change_refetches_the_folder_without_duplicate_tickets(
        app: Flask, mailbox: Mailbox, imap: ImapAccount) -> None:
    imap.deliver(customer_mail())
    poll_mailbox(mailbox.id)
    # As if the server renumbered its UIDs since: what we hold is under an older UIDVALIDITY.
    stale = db.session.get(Mailbox, mailbox.id)
    [raw_email] = _raw_emails()
    assert stale is not None and stale.uidvalidity is not None
    stale.uidvalidity = raw_email.uidvalidity = stale.uidvalidity - 1
    db.session.commit()

    assert poll_mailbox(mailbox.id) == 1

    assert len(_tickets()) == 1
    assert [raw.status for raw in _raw_emails()] == ["ingested", "duplicate"]


def test_out_of_office_reply_opens_a_ticket_without_acknowledgement(
        app: Flask, mailbox: Mailbox, imap: ImapAccount, smtp_sink: SmtpSink) -> None:
    imap.deliver(customer_mail(subject="Out of office",
                               extra_headers=[("Auto-Submitted", "auto-replied")]))

    poll_mailbox(mailbox.id)

    assert len(_tickets()) == 1
    [raw_email] = _raw_emails()
    assert raw_email.verdict == "accept-without-autoreply"
    assert raw_email.hits == [{"rule": "auto-submitted", "action": "accept-without-autoreply",
                               "detail": "Auto-Submitted: auto-replied"},
                              {"rule": "out-of-office", "action": "accept-without-autoreply",
                               "detail": "subject 'Out of office'"}]
    assert smtp_sink.messages == []


def test_our_own_mail_coming_back_is_dropped(
        app: Flask, mailbox: Mailbox, imap: ImapAccount, smtp_sink: SmtpSink) -> None:
    imap.deliver(customer_mail(sender="alice@customer.test",
                               extra_headers=[("X-Helpdesk-Loop", "helpdesk.test")]))
    imap.deliver(customer_mail(sender=f"Helpdesk <{SUPPORT}>"))

    poll_mailbox(mailbox.id)

    assert _tickets() == []
    assert [raw.status for raw in _raw_emails()] == ["dropped", "dropped"]
    assert smtp_sink.messages == []


def test_bounce_is_quarantined_and_never_answered(
        app: Flask, mailbox: Mailbox, imap: ImapAccount, smtp_sink: SmtpSink) -> None:
    imap.deliver(b"Return-Path: <>\r\n" + customer_mail(
        sender="Mail Delivery System <MAILER-DAEMON@mx.customer.test>",
        subject="Undelivered Mail Returned to Sender"))

    poll_mailbox(mailbox.id)

    assert _tickets() == []
    [raw_email] = _raw_emails()
    assert raw_email.status == "quarantined" and raw_email.error is not None
    assert "bounce" in raw_email.error
    assert smtp_sink.messages == []


def test_strangers_subject_tag_opens_a_new_ticket(
        app: Flask, mailbox: Mailbox, imap: ImapAccount) -> None:
    imap.deliver(customer_mail(sender="alice@customer.test", subject="My invoice"))
    poll_mailbox(mailbox.id)
    imap.deliver(customer_mail(sender="mallory@evil.test", subject="Re: [#1] My invoice",
                               body="Please send the invoice to me instead."))
    poll_mailbox(mailbox.id)

    first, second = _tickets()
    assert [message.body_text for message in _messages(first)] == ["Where is it?"]
    assert second.customer.email == "mallory@evil.test"


def test_requesters_own_subject_tag_threads(
        app: Flask, mailbox: Mailbox, imap: ImapAccount) -> None:
    imap.deliver(customer_mail(subject="My invoice"))
    poll_mailbox(mailbox.id)
    imap.deliver(customer_mail(subject="[#1] one more thing", body="Also the receipt."))
    poll_mailbox(mailbox.id)

    [ticket] = _tickets()
    assert len(_messages(ticket)) == 2
    assert _raw_emails()[1].thread_reason == "subject-tag"


def test_forged_reply_token_opens_a_new_ticket(
        app: Flask, mailbox: Mailbox, imap: ImapAccount) -> None:
    imap.deliver(customer_mail(subject="Private matter"))
    poll_mailbox(mailbox.id)
    forged = "<t1.0123456789abcdef.0123456789abcdef@helpdesk.test>"
    imap.deliver(customer_mail(sender="mallory@evil.test", subject="hello",
                               to="support+t1.0123456789abcdef@helpdesk.test",
                               in_reply_to=forged))
    poll_mailbox(mailbox.id)

    assert len(_tickets()) == 2


def test_reply_to_closed_ticket_opens_a_new_one(
        app: Flask, mailbox: Mailbox, imap: ImapAccount, smtp_sink: SmtpSink) -> None:
    imap.deliver(customer_mail())
    poll_mailbox(mailbox.id)
    ack = _acknowledgement(smtp_sink)
    [ticket] = _tickets()
    ticket.status = "closed"
    db.session.commit()

    imap.deliver(customer_mail(subject="Re: old", to=ack["Reply-To"]))
    poll_mailbox(mailbox.id)

    assert len(_tickets()) == 2


def test_attachment_is_stored_under_a_random_name_with_a_cleaned_filename(
        app: Flask, mailbox: Mailbox, imap: ImapAccount) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "alice@customer.test", SUPPORT, "Invoice"
    mail["Message-ID"] = "<att@customer.test>"
    mail.set_content("See attached.")
    mail.add_attachment(b"<script>alert(1)</script>", maintype="text", subtype="html",
                        filename="invoice.pdf\u200b.html")
    imap.deliver(mail.as_bytes())

    poll_mailbox(mailbox.id)

    [attachment] = db.session.scalars(select(Attachment)).all()
    assert attachment.filename == "invoice.pdf.html"
    assert attachment.storage_name not in attachment.filename
    assert path_of(attachment.storage_name).read_bytes() == b"<script>alert(1)</script>"


def test_oversized_mail_is_fetched_as_header_only_and_quarantined(
        app: Flask, mailbox: Mailbox, imap: ImapAccount) -> None:
    app.config["MAX_EMAIL_BYTES"] = 2000
    imap.deliver(customer_mail(subject="Huge", body="x" * 5000))

    poll_mailbox(mailbox.id)

    [raw_email] = _raw_emails()
    assert raw_email.status == "quarantined"
    assert raw_email.size > 5000
    assert len(raw_email.raw) < 2000 and b"Subject: Huge" in raw_email.raw
    assert _tickets() == []


def test_mailbox_team_receives_its_tickets(
        app: Flask, imap: ImapAccount) -> None:
    team = create_team("Billing")
    db.session.commit()
    mailbox = make_mailbox(imap)
    mailbox.team_id = team.id
    db.session.commit()
    imap.deliver(customer_mail())

    poll_mailbox(mailbox.id)

    [ticket] = _tickets()
    assert ticket.team_id == team.id


def test_acknowledgement_comes_from_the_mailbox_the_customer_wrote_to(
        app: Flask, imap: ImapAccount, smtp_sink: SmtpSink) -> None:
    sales = make_mailbox(imap, name="sales", address="sales@helpdesk.test")
    imap.deliver(customer_mail(to="sales@helpdesk.test"))

    poll_mailbox(sales.id)

    ack = _acknowledgement(smtp_sink)
    assert ack["From"].addresses[0].addr_spec == "sales@helpdesk.test"
    assert ack["Reply-To"].startswith("sales+t1.")


def test_sender_flooding_new_tickets_stops_getting_acknowledgements(
        app: Flask, mailbox: Mailbox, imap: ImapAccount, smtp_sink: SmtpSink) -> None:
    # A responder that marks itself in no way would ping-pong with our acknowledgements.
    for number in range(AUTOREPLY_LIMIT_PER_HOUR + 2):
        imap.deliver(customer_mail(sender="robot@customer.test", subject=f"Notice {number}"))

    poll_mailbox(mailbox.id)

    assert len(_tickets()) == AUTOREPLY_LIMIT_PER_HOUR + 2
    assert len(smtp_sink.wait_for(AUTOREPLY_LIMIT_PER_HOUR)) == AUTOREPLY_LIMIT_PER_HOUR
    assert [raw.verdict for raw in _raw_emails()][-2:] == ["accept-without-autoreply"] * 2


def test_mail_is_fetched_in_batches_each_committed_and_flagged(
        app: Flask, mailbox: Mailbox, imap: ImapAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(poller, "FETCH_BATCH", 2)
    for number in range(5):
        imap.deliver(customer_mail(subject=f"Mail {number}"))

    assert poll_mailbox(mailbox.id) == 5

    assert [ticket.subject for ticket in _tickets()] == [f"Mail {n}" for n in range(5)]
    assert all(b"\\Seen" in flags for flags in imap.flags().values())
