"""``flask mailbox add | list | poll`` against the real Dovecot."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from channels.email.models import Mailbox
from helpdesk.db import db
from helpdesk.teams.operations import create_team
from helpdesk.tickets.models import Ticket
from tests.email.conftest import ImapAccount, customer_mail


def _add(app: Flask, imap: ImapAccount, *extra: str, password: str | None = None) -> str:
    result = app.test_cli_runner().invoke(args=[
        "mailbox", "add", "--name", "support", "--address", "Support@Helpdesk.test",
        "--imap-host", imap.server.host, "--imap-port", str(imap.server.port),
        "--username", imap.user, "--password", password or imap.password, "--no-tls", *extra])
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
    assert (mailbox.address, mailbox.imap_tls, mailbox.team is not None) == (
        "support@helpdesk.test", False, True)
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
