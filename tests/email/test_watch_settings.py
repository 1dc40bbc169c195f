"""A watched mailbox whose connection settings an admin changes is watched with the new ones
(the open IDLE session on the old server or login is replaced)."""

from __future__ import annotations

import pytest
from flask import Flask

from channels.email import watch
from channels.email.operations import MailboxSettings, update_mailbox
from channels.email.watch import WatchSupervisor
from helpdesk.db import db
from tests.email.conftest import ImapAccount, customer_mail, make_mailbox, new_account
from tests.email.test_watch import _mailbox, _subjects, wait_until


def test_changed_login_is_watched_without_a_restart(
        app: Flask, imap: ImapAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    # No periodic poll: only a watcher on the new login can fetch the mail.
    app.config.update(MAIL_POLL_SECONDS=3600, MAIL_LOCK_SECONDS=3)
    monkeypatch.setattr(watch, "RESCAN_SECONDS", 0.2)
    mailbox = make_mailbox(imap)
    moved_to = new_account(imap.server)
    supervisor = WatchSupervisor(app)
    thread = supervisor.start()
    try:
        wait_until(lambda: _mailbox(mailbox.id).connection_state == "idle")
        update_mailbox(_mailbox(mailbox.id), MailboxSettings(
            name=mailbox.name, address=mailbox.address, imap_host=imap.server.host,
            imap_port=imap.server.port, imap_security="none", imap_username=moved_to.user,
            imap_password=moved_to.password))
        db.session.commit()
        moved_to.deliver(customer_mail(subject="Sent to the new login"))

        wait_until(lambda: _subjects() == ["Sent to the new login"])
    finally:
        supervisor.stop.set()
        thread.join(30)
