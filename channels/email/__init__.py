"""The email channel: IMAP in (poller -> raw email -> ingest job), SMTP out (outbox).

Wiring only: the pieces live in their modules (see ARCHITECTURE.md, "The life of an
inbound email").
"""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from helpdesk.jobs import register_periodic
from helpdesk.navigation import register_console_link
from helpdesk.ports import register_outbound_mail


def init_app(app: Flask) -> None:
    from channels.email import models  # noqa: F401  (registers the tables)
    from channels.email.cli import mailbox_cli
    from channels.email.send import SmtpOutboundMail
    from channels.email.views import bp

    register_outbound_mail(app, SmtpOutboundMail())
    register_periodic(app, "channels.email.poller.poll_all", app.config["MAIL_POLL_SECONDS"],
                      queue="inbound")
    app.register_blueprint(bp)
    app.cli.add_command(mailbox_cli)
    register_console_link(app, _l("Mailboxes"), "email.mailboxes", admin_only=True)
