"""The email channel: IMAP in (poller -> raw email -> ingest job), SMTP out (outbox).

Wiring only: the pieces live in their modules (see ARCHITECTURE.md, "The life of an
inbound email").
"""

from __future__ import annotations

from flask import Flask

from helpdesk.jobs import register_periodic
from helpdesk.ports import register_outbound_mail


def init_app(app: Flask) -> None:
    from channels.email import models  # noqa: F401  (registers the tables)
    from channels.email.cli import mailbox_cli
    from channels.email.send import SmtpOutboundMail

    register_outbound_mail(app, SmtpOutboundMail())
    register_periodic(app, "channels.email.poller.poll_all", app.config["MAIL_POLL_SECONDS"],
                      queue="inbound")
    app.cli.add_command(mailbox_cli)
