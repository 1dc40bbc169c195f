"""``flask mailbox add | list | poll | watch | replay``: the mailboxes the helpdesk reads."""

from __future__ import annotations

import signal

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from channels.email.ingest import ingest, replay
from channels.email.models import IMAP_SECURITY, Mailbox, RawEmail
from channels.email.operations import InvalidMailbox, OAuthGrant, add_mailbox
from channels.email.poller import poll_mailbox
from channels.email.queries import all_mailboxes, mailbox_named, pending_raw_email_ids
from channels.email.watch import WatchSupervisor
from helpdesk.db import db
from helpdesk.teams.models import Team

mailbox_cli = AppGroup("mailbox", help="Mailboxes the helpdesk reads customer mail from.")


@mailbox_cli.command("add")
@click.option("--name", required=True, help="A short name for admins, e.g. 'support'.")
@click.option("--address", required=True, help="The address customers write to.")
@click.option("--imap-host", required=True)
@click.option("--imap-port", type=int, help="Default: 993 with TLS, 143 otherwise.")
@click.option("--username", required=True, help="IMAP login.")
@click.option("--password", help="IMAP password (prompted for when omitted, so it stays out "
              "of the shell history).")
@click.option("--security", type=click.Choice(IMAP_SECURITY), default="tls", show_default=True,
              help="'none' is accepted only for a server on this machine.")
@click.option("--oauth-token-url", help="XOAUTH2: the provider's OAuth 2 token endpoint.")
@click.option("--oauth-client-id", help="XOAUTH2: the OAuth client id.")
@click.option("--folder", default="INBOX", show_default=True)
@click.option("--team", "team_name", help="Team that gets this mailbox's new tickets.")
def add_command(name: str, address: str, imap_host: str, imap_port: int | None, username: str,
                password: str | None, security: str, oauth_token_url: str | None,
                oauth_client_id: str | None, folder: str, team_name: str | None) -> None:
    """Add a mailbox to read, with a password or (given --oauth-token-url) XOAUTH2.

    OAuth secrets are prompted for, so they stay out of the shell history.
    """
    team = None
    if team_name:
        team = db.session.scalar(select(Team).where(Team.name == team_name))
        if team is None:
            raise click.BadParameter(f"no team named {team_name!r}", param_hint="--team")
    grant = None
    if oauth_token_url:
        grant = OAuthGrant(
            token_url=oauth_token_url, client_id=oauth_client_id or "",
            client_secret=click.prompt("OAuth client secret", hide_input=True, default="",
                                       show_default=False),
            refresh_token=click.prompt("OAuth refresh token", hide_input=True))
    elif not password:
        password = click.prompt("IMAP password", hide_input=True)
    try:
        mailbox = add_mailbox(name=name, address=address, imap_host=imap_host,
                              imap_port=imap_port or (993 if security == "tls" else 143),
                              imap_username=username, imap_password=password or "", oauth=grant,
                              imap_folder=folder, imap_security=security, team=team)
    except InvalidMailbox as error:
        raise click.UsageError(str(error)) from error
    db.session.commit()
    click.echo(f"Mailbox {mailbox.name!r} added: {mailbox.address} via "
               f"{mailbox.imap_host}:{mailbox.imap_port}/{mailbox.imap_folder} "
               f"({mailbox.imap_security}, {mailbox.auth_method})")


@mailbox_cli.command("watch")
def watch_command() -> None:
    """Watch every active mailbox with IMAP IDLE until stopped (SIGTERM or Ctrl-C).

    The production intake process, run beside the rq workers; one is enough, and a second
    one only stands by (each mailbox is fetched by whoever holds its lock).
    """
    supervisor = WatchSupervisor(current_app._get_current_object())  # type: ignore[attr-defined]
    signal.signal(signal.SIGTERM, lambda *_: supervisor.stop.set())
    click.echo("Watching mailboxes (IMAP IDLE); stop with Ctrl-C or SIGTERM.")
    try:
        supervisor.run()
    except KeyboardInterrupt:
        supervisor.stop.set()


@mailbox_cli.command("list")
def list_command() -> None:
    """Show every mailbox and how its last poll went (passwords are never shown)."""
    for mailbox in all_mailboxes():
        state = "active" if mailbox.active else "inactive"
        polled = mailbox.last_polled_at.isoformat(timespec="seconds") if mailbox.last_polled_at \
            else "never"
        team = mailbox.team.name if mailbox.team else "-"
        click.echo(f"{mailbox.name}\t{mailbox.address}\t{mailbox.imap_host}:{mailbox.imap_port}"
                   f"/{mailbox.imap_folder}\tteam={team}\t{state}\tlast poll {polled}"
                   f"\tUID {mailbox.last_uid}")
        if mailbox.last_error:
            click.echo(f"\tlast error: {mailbox.last_error}")


@mailbox_cli.command("poll")
@click.argument("name", required=False)
def poll_command(name: str | None) -> None:
    """Poll one mailbox (or all active ones) now, and ingest what was fetched."""
    # Jobs queued to an in-process worker thread would die with this command: run them
    # here, right after each commit.
    if current_app.config["JOBS_MODE"] == "thread":
        current_app.config["JOBS_MODE"] = "eager"
    if name:
        mailbox = mailbox_named(name)
        if mailbox is None:
            raise click.BadParameter(f"no mailbox named {name!r}", param_hint="NAME")
        mailboxes: list[Mailbox] = [mailbox]
    else:
        mailboxes = [mailbox for mailbox in all_mailboxes() if mailbox.active]
    failed = False
    for mailbox in mailboxes:
        label = mailbox.name
        try:
            stored = poll_mailbox(mailbox.id)
        except Exception as error:
            failed = True
            click.echo(f"{label}: failed: {type(error).__name__}: {error}", err=True)
            continue
        # Mail stored earlier whose ingest job was lost (a worker restart) is taken in too.
        for raw_email_id in pending_raw_email_ids(mailbox):
            ingest(raw_email_id)
            db.session.commit()
        click.echo(f"{label}: {stored} new message(s)")
    if failed:
        raise SystemExit(1)


@mailbox_cli.command("replay")
@click.argument("raw_email_id", type=int)
def replay_command(raw_email_id: int) -> None:
    """Ingest a quarantined or dropped email again, e.g. after a parser fix."""
    raw_email = db.session.get(RawEmail, raw_email_id)
    if raw_email is None:
        raise click.BadParameter(f"no raw email {raw_email_id}", param_hint="RAW_EMAIL_ID")
    try:
        replay(raw_email)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    db.session.commit()
    outcome = f"ticket #{raw_email.ticket_id}" if raw_email.ticket_id else raw_email.error
    click.echo(f"raw email {raw_email_id}: {raw_email.status} ({outcome})")
