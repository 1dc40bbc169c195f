"""The email channel: IMAP in (poller -> raw email -> ingest job), SMTP out (outbox).

Wiring only: the pieces live in their modules (see ARCHITECTURE.md, "The life of an
inbound email").
"""

from __future__ import annotations

from flask import Flask, url_for
from flask_babel import lazy_gettext as _l

from helpdesk.jobs import register_embedded_service, register_periodic
from helpdesk.navigation import register_console_link, register_source_link
from helpdesk.ports import register_outbound_mail


def init_app(app: Flask) -> None:
    from channels.email import models  # noqa: F401  (registers the tables)
    from channels.email.cli import mailbox_cli
    from channels.email.send import SmtpOutboundMail
    from channels.email.views import bp
    from channels.email.watch import start_watching

    register_outbound_mail(app, SmtpOutboundMail())
    # IDLE watchers fetch new mail at once; the periodic poll is the safety net (it skips a
    # mailbox a watcher holds), and the sweeps resume work whose job died with a process.
    register_embedded_service(app, start_watching)
    register_periodic(app, "channels.email.poller.poll_all", app.config["MAIL_POLL_SECONDS"],
                      queue="inbound")
    register_periodic(app, "channels.email.tasks.resume_ingest", 60, queue="inbound")
    register_periodic(app, "channels.email.tasks.resume_outbox", 60, queue="outbound")
    app.register_blueprint(bp)
    app.cli.add_command(mailbox_cli)
    register_console_link(app, _l("Mailboxes"), "email.mailboxes", admin_only=True)
    register_source_link(app, _original_link)


def _original_link(reference: str) -> str | None:
    from channels.email.models import raw_email_id_of

    raw_email_id = raw_email_id_of(reference)
    return url_for("email.original", raw_email_id=raw_email_id) if raw_email_id else None
