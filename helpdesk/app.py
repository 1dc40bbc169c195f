"""The application factory. Quiet: no network or database I/O while creating the app."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, has_request_context, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from helpdesk import cli
from helpdesk.config import load_settings
from helpdesk.extensions import babel, csrf, db, limiter, login_manager, migrate

SUPPORTED_LOCALES = ("en", "zh_CN")


def format_duration(delta: timedelta | None) -> str:
    """"2d 3h", "45m": how long, rounded to what a person scanning a queue needs."""
    if delta is None:
        return ""
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"
MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(load_settings(app.instance_path))
    app.config.from_pyfile("helpdesk.cfg", silent=True)
    if overrides:
        app.config.update(overrides)
    if not app.config["SECRET_KEY"]:
        raise RuntimeError("HELPDESK_SECRET_KEY is not set (scripts/run writes one to "
                           "instance/helpdesk.cfg for the embedded setup)")
    if not app.config["JOBS_MODE"]:
        app.config["JOBS_MODE"] = "rq" if app.config["REDIS_URL"] else "thread"
    # Shared limits need shared storage: Redis when there is one, else this process's memory.
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"] or "memory://")

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)
    _init_login(app)
    _register_core(app)
    for dotted_name in filter(None, (name.strip() for name in app.config["EXTENSIONS"])):
        importlib.import_module(dotted_name).init_app(app)
    cli.init_app(app)
    return app


def _select_locale() -> str | None:
    if not has_request_context():  # jobs and CLI render in the default locale
        return None
    chosen = request.args.get("lang") or request.cookies.get("lang")
    if chosen in SUPPORTED_LOCALES:
        return chosen
    if current_user and current_user.is_authenticated and current_user.locale:
        return str(current_user.locale)
    return request.accept_languages.best_match(SUPPORTED_LOCALES, default="en")


def _init_login(app: Flask) -> None:
    from helpdesk.auth.models import Agent

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_agent(agent_id: str) -> Agent | None:
        return db.session.get(Agent, int(agent_id))


def _register_core(app: Flask) -> None:
    from helpdesk import jobs  # noqa: F401  (registers the JobFailure model)
    from helpdesk.auth.views import bp as auth_bp
    from helpdesk.automation import init_app as init_automation
    from helpdesk.customers.views import bp as customers_bp
    from helpdesk.reports.views import bp as reports_bp
    from helpdesk.sla import init_app as init_sla
    from helpdesk.surveys.subscribers import connect_subscribers
    from helpdesk.surveys.views import bp as surveys_bp
    from helpdesk.tickets.views import bp as tickets_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(tickets_bp)
    app.register_blueprint(customers_bp)
    app.register_blueprint(surveys_bp)
    app.register_blueprint(reports_bp)
    connect_subscribers(app)
    init_sla(app)
    init_automation(app)

    from flask_babel import get_locale
    from flask_babel import lazy_gettext as _l

    from helpdesk.navigation import console_links, register_console_link, source_link

    register_console_link(app, _l("Tickets"), "tickets.queue", order=0)
    register_console_link(app, _l("Satisfaction"), "reports.csat")
    register_console_link(app, _l("Operations"), "reports.operations")
    register_console_link(app, _l("Profile conflicts"), "customers.conflicts")
    register_console_link(app, _l("Agents"), "auth.agents", admin_only=True)
    register_console_link(app, _l("Teams"), "auth.teams", admin_only=True)
    register_console_link(app, _l("Failed jobs"), "reports.failed_jobs", admin_only=True)
    app.jinja_env.globals["console_links"] = console_links
    app.jinja_env.globals["source_link"] = source_link
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.filters["duration"] = format_duration
    app.jinja_env.filters["nav_blueprint"] = lambda endpoint: endpoint.partition(".")[0]

    @app.get("/")
    def index() -> Response:
        return redirect(url_for("tickets.queue"))

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'")
        if "lang" in request.args and request.args["lang"] in SUPPORTED_LOCALES:
            response.set_cookie("lang", request.args["lang"], samesite="Lax",
                                max_age=365 * 24 * 3600)
        return response
