"""Command-line entry points: ``flask create-admin``, ``flask demo``, ``flask serve``."""

from __future__ import annotations

import secrets

import click
from flask import Flask, current_app
from flask_migrate import upgrade

from helpdesk.db import db


def init_app(app: Flask) -> None:
    app.cli.add_command(create_admin)
    app.cli.add_command(demo)
    app.cli.add_command(serve)


@click.command("create-admin")
@click.option("--email", required=True)
@click.option("--name", default="Administrator")
@click.option("--password", help="Generated and printed when omitted.")
def create_admin(email: str, name: str, password: str | None) -> None:
    """Create an admin agent (the first login of a new installation)."""
    from helpdesk.auth.operations import create_agent

    password = password or secrets.token_urlsafe(12)
    create_agent(email=email, name=name, password=password, role="admin")
    db.session.commit()
    click.echo(f"Admin created: {email} / {password}")


@click.command("demo")
def demo() -> None:
    """Migrate the database and load demo data (once); print the admin login."""
    from helpdesk.demo import load_demo_data

    upgrade(directory=current_app.extensions["migrate"].directory)
    login = load_demo_data()
    db.session.commit()
    if login:
        click.echo(f"Demo data loaded. Admin login: {login[0]} / {login[1]}")
    else:
        click.echo("Demo data already present (admin: admin@example.com, password as first "
                   "printed, or reset it with `flask create-admin`).")


@click.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
def serve(host: str, port: int) -> None:
    """Embedded mode: migrate, then serve the app with jobs and periodic work in-process."""
    from werkzeug.serving import run_simple

    from helpdesk.jobs import Ticker, embedded_services

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    upgrade(directory=app.extensions["migrate"].directory)
    if app.config["JOBS_MODE"] == "thread":
        Ticker(app).start()
        for start_service in embedded_services(app):
            start_service(app)
    click.echo(f"Helpdesk running on http://{host}:{port}/  (console: /console/, "
               f"support form: /support, help centre: /help)")
    run_simple(host, port, app, threaded=True, use_reloader=False)
