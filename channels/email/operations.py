"""Mailbox writes. They flush and never commit; the caller's unit of work does."""

from __future__ import annotations

from sqlalchemy import select

from channels.email.addresses import normalize_address
from channels.email.models import Mailbox
from helpdesk.db import db
from helpdesk.teams.models import Team


class InvalidMailbox(ValueError):
    """Mailbox settings that cannot work (bad address, duplicate name)."""


def add_mailbox(*, name: str, address: str, imap_host: str, imap_port: int,
                imap_username: str, imap_password: str, imap_folder: str = "INBOX",
                imap_tls: bool = True, team: Team | None = None) -> Mailbox:
    """Add a mailbox to poll. Its first poll takes in everything already in the folder."""
    name = name.strip()
    normalised = normalize_address(address)
    if not name:
        raise InvalidMailbox("a mailbox needs a name")
    if normalised is None:
        raise InvalidMailbox(f"not a valid email address: {address!r}")
    if db.session.scalar(select(Mailbox.id).where(Mailbox.name == name)) is not None:
        raise InvalidMailbox(f"a mailbox named {name!r} already exists")
    mailbox = Mailbox(name=name, address=normalised, imap_host=imap_host.strip(),
                      imap_port=imap_port, imap_tls=imap_tls, imap_username=imap_username,
                      imap_password=imap_password, imap_folder=imap_folder or "INBOX",
                      team=team, active=True, last_uid=0)
    db.session.add(mailbox)
    db.session.flush()
    return mailbox
