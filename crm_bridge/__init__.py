"""CRM bridge: customer profiles from CRM exports (and, later, CRM APIs) via field mappings."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from helpdesk.navigation import register_console_link


def init_app(app: Flask) -> None:
    from crm_bridge import models  # noqa: F401  (registers the tables)
    from crm_bridge.cli import crm_cli
    from crm_bridge.views import bp

    app.register_blueprint(bp)
    app.cli.add_command(crm_cli)
    register_console_link(app, _l("CRM review"), "crm.review", admin_only=True)
