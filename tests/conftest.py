"""Fixtures shared by the whole suite: real SMTP sink, real PostgreSQL, apps on both engines.

Database tests that should hold on SQLite *and* PostgreSQL use ``any_db_app`` (parametrised);
everything else uses ``app`` (SQLite file in the test's tmp dir). Jobs run "eager": right
after commit, in a fresh app context, so a test sees their effects at once.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from helpdesk.app import create_app
from helpdesk.auth.models import Agent
from helpdesk.auth.operations import create_agent
from helpdesk.db import db
from helpdesk.demo import load_default_policies
from tests.services import PostgresServer, SmtpSink

PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    with PostgresServer(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres: PostgresServer) -> str:
    """One database per test session (per xdist worker); tables emptied after each test."""
    return postgres.create_database()


class IsolatedClient(FlaskClient):
    """Each request in its own app context, as in production.

    Tests hold an app context for their own database work; without this, requests would
    share it, and with it ``g`` (where Flask-WTF caches the CSRF token) and the DB session.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        with self.application.app_context():
            return super().open(*args, **kwargs)


def make_app(database_url: str, tmp_path: Path, smtp_sink: SmtpSink, **overrides: Any) -> Flask:
    config = {
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "JOBS_MODE": "eager",
        "ATTACHMENT_DIR": str(tmp_path / "attachments"),
        "SMTP_HOST": smtp_sink.host,
        "SMTP_PORT": smtp_sink.port,
        "RATELIMIT_ENABLED": False,
        "BASE_URL": "http://helpdesk.test",
        "SUPPORT_ADDRESS": "support@example.com",
        "MAIL_DOMAIN": "helpdesk.test",
        "TESTING": True,
        # The test servers (CRM and OAuth stubs) listen on the loopback.
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8,::1",
        **overrides,
    }
    app = create_app(config)
    app.test_client_class = IsolatedClient
    return app


def _empty_all_tables() -> None:
    names = ", ".join(f'"{table.name}"' for table in db.metadata.sorted_tables)
    db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    db.session.commit()


@contextlib.contextmanager
def app_with_schema(database_url: str, tmp_path: Path, smtp_sink: SmtpSink,
                    **overrides: Any) -> Iterator[Flask]:
    """An app on ``database_url`` with tables and default SLA policies, inside its context."""
    smtp_sink.clear()
    app = make_app(database_url, tmp_path, smtp_sink, **overrides)
    with app.app_context():
        db.create_all()
        load_default_policies()
        db.session.commit()
        yield app
        db.session.rollback()
        if db.engine.dialect.name == "postgresql":
            _empty_all_tables()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app(tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[Flask]:
    with app_with_schema(f"sqlite:///{tmp_path / 'helpdesk.sqlite'}", tmp_path,
                         smtp_sink) as app:
        yield app


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_app(
    request: pytest.FixtureRequest, tmp_path: Path, smtp_sink: SmtpSink
) -> Iterator[Flask]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'helpdesk.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    with app_with_schema(url, tmp_path, smtp_sink) as app:
        yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_token(page_html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page_html)
    if match is None:
        match = re.search(r'name="csrf_token" value="([^"]+)"', page_html)
    assert match is not None, "no CSRF token on the page"
    return match.group(1)


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    page = client.get("/login")
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_token(page.text)}
    )


def post_form(
    client: FlaskClient, page_url: str, action_url: str, data: dict[str, Any], **kwargs: Any
) -> Any:
    """Submit a form the way a browser does: load the page for its CSRF token, then POST."""
    token = csrf_token(client.get(page_url).text)
    return client.post(action_url, data={**data, "csrf_token": token}, **kwargs)


@pytest.fixture
def admin(app: Flask) -> Agent:
    agent = create_agent(
        email="admin@example.com", name="Ada Admin", password=PASSWORD, role="admin"
    )
    db.session.commit()
    return agent


@pytest.fixture
def agent(app: Flask) -> Agent:
    agent = create_agent(email="agent@example.com", name="Li Wei", password=PASSWORD)
    db.session.commit()
    return agent
