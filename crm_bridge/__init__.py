"""CRM bridge: customer profiles from CRMs, exports, databases and REST endpoints, kept in sync."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from helpdesk.jobs import register_periodic
from helpdesk.navigation import register_console_link

#: How often due syncs are looked for; each source's own schedule is in minutes.
DISPATCH_SECONDS = 60


def init_app(app: Flask) -> None:
    from crm_bridge import models  # noqa: F401  (registers the tables)
    from crm_bridge.cli import crm_cli
    from crm_bridge.pushback import connect_pushback
    from crm_bridge.views import bp
    from crm_bridge.webhooks import webhooks

    app.register_blueprint(bp)
    app.register_blueprint(webhooks)
    app.cli.add_command(crm_cli)
    connect_pushback(app)
    register_console_link(app, _l("CRM sources"), "crm.sources", admin_only=True)
    register_periodic(app, "crm_bridge.sync.dispatch_due_syncs", DISPATCH_SECONDS, queue="crm")
