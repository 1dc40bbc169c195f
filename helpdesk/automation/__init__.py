"""automation domain: routing rules, assignment, time-based automations."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the admin pages, their console links and the periodic automation sweep."""
    from flask_babel import lazy_gettext as _l

    from helpdesk.automation.views import bp
    from helpdesk.jobs import register_periodic
    from helpdesk.navigation import register_console_link

    app.register_blueprint(bp)
    register_console_link(app, _l("Routing"), "automation.rules", admin_only=True)
    register_console_link(app, _l("Automations"), "automation.automations", admin_only=True)
    register_console_link(app, _l("Assignment"), "automation.assignment", admin_only=True)
    register_console_link(app, _l("My status"), "automation.my_status")
    register_periodic(app, "helpdesk.automation.tasks.sweep_time_automations",
                      app.config["AUTOMATION_SWEEP_SECONDS"])
