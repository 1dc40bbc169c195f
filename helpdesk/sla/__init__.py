"""sla domain: calendars, policies, clocks over a ticket's ledger, escalation, reports."""

from __future__ import annotations

from flask import Flask

#: How often the escalation sweep runs as a safety net behind the exact per-clock jobs.
SWEEP_SECONDS = 60


def init_app(app: Flask) -> None:
    from flask_babel import lazy_gettext as _l

    from helpdesk.jobs import register_periodic
    from helpdesk.navigation import register_console_link
    from helpdesk.notifications import models as notification_models  # noqa: F401
    from helpdesk.notifications.views import bp as notifications_bp
    from helpdesk.notifications.views import unread_badge
    from helpdesk.sla.views import bp

    app.register_blueprint(bp)
    app.register_blueprint(notifications_bp)
    register_periodic(app, "helpdesk.sla.tasks.run_escalation_sweep", SWEEP_SECONDS,
                      queue="sla")
    register_console_link(app, _l("Notifications"), "notifications.inbox", badge=unread_badge,
                          order=10)
    register_console_link(app, _l("SLA report"), "sla.report")
    register_console_link(app, _l("SLA settings"), "sla.settings", admin_only=True)
