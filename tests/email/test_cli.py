"""``flask mailbox add | list | poll`` against the real Dovecot."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from channels.email import rawstore
from channels.email.models import Mailbox, RawEmail
from channels.email.parse import ParsedEmail, unreadable
from helpdesk.db import db
from helpdesk.teams.operations import create_team
from helpdesk.tickets.models import Ticket
from tests.email.conftest import ImapAccount, customer_mail


def _add(app: Flask, imap: ImapAccount, *extra: str, password: str | None = None) -> str:
    result = app.test_cli_runner().invoke(args=[
        "mailbox", "add", "--name", "support", "--address", "Support@Helpdesk.test",
        "--imap-host", imap.server.host, "--imap-port", str(imap.server.port),
        "--username", imap.user, "--password", password or imap.password, "--security", "none",
        *extra])
    assert result.exit_code == 0, result.output
    return result.output


def test_mailbox_add_then_poll_makes_tickets(app: Flask, imap: ImapAccount) -> None:
    create_team("Billing")
    db.session.commit()
    _add(app, imap, "--team", "Billing")
    imap.deliver(customer_mail(subject="Via the command line"))

    result = app.test_cli_runner().invoke(args=["mailbox", "poll", "support"])

    assert result.exit_code == 0, result.output
    assert "support: 1 new message(s)" in result.output
    mailbox = db.session.scalars(select(Mailbox)).one()
    assert (mailbox.address, mailbox.imap_security, mailbox.team is not None) == (
        "support@helpdesk.test", "none", True)
    ticket = db.session.scalars(select(Ticket)).one()
    assert (ticket.subject, ticket.team_id) == ("Via the command line", mailbox.team_id)


def test_mailbox_add_refuses_an_unknown_team(app: Flask, imap: ImapAccount) -> None:
    result = app.test_cli_runner().invoke(args=[
        "mailbox", "add", "--name", "x", "--address", "x@helpdesk.test", "--imap-host", "h",
        "--username", "u", "--password", "p", "--team", "Nobody"])
    assert result.exit_code != 0
    assert "no team named 'Nobody'" in result.output
    assert db.session.scalars(select(Mailbox)).all() == []


def test_failed_poll_is_reported_and_listed_without_the_password(
        app: Flask, imap: ImapAccount) -> None:
    _add(app, imap, password="wrong-password")

    polled = app.test_cli_runner().invoke(args=["mailbox", "poll"])
    listed = app.test_cli_runner().invoke(args=["mailbox", "list"])

    assert polled.exit_code == 1
    assert "support: failed" in polled.output
    assert "support@helpdesk.test" in listed.output
    assert "last error:" in listed.output
    assert "wrong-password" not in listed.output + polled.output


def test_replay_ingests_a_quarantined_mail_again_after_a_parser_fix(
        app: Flask, imap: ImapAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    _add(app, imap)
    imap.deliver(customer_mail(subject="Tripped a parser bug"))

    def buggy_parser(raw: bytes) -> ParsedEmail:
        return unreadable(raw, "parser error: IndexError")

    with monkeypatch.context() as patch:
        patch.setattr(rawstore, "parse_message", buggy_parser)
        app.test_cli_runner().invoke(args=["mailbox", "poll"])
    raw_email = db.session.scalars(select(RawEmail)).one()
    assert (raw_email.status, raw_email.error) == ("quarantined", "parser error: IndexError")

    result = app.test_cli_runner().invoke(args=["mailbox", "replay", str(raw_email.id)])

    assert result.exit_code == 0, result.output
    assert "ingested (ticket #1)" in result.output
    again = app.test_cli_runner().invoke(args=["mailbox", "replay", str(raw_email.id)])
    assert again.exit_code != 0 and "not set aside" in again.output
    assert [ticket.subject for ticket in db.session.scalars(select(Ticket))] == [
        "Tripped a parser bug"]
