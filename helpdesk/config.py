"""Deployment configuration, read from the environment (prefix ``HELPDESK_``).

Runtime rules (SLA policies, teams, mailboxes, mappings) live in the database; this module only
knows where things are. Every setting is one line so the whole surface is visible at a glance.
An optional ``instance/helpdesk.cfg`` (Python syntax) may override the same keys.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

DEFAULT_EXTENSIONS = "channels.email,channels.webform,knowledgebase,crm_bridge"


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"HELPDESK_{name}", default)


def _env_int(name: str, default: int) -> int:
    value = _env(name)
    return int(value) if value else default


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def load_settings(instance_path: str) -> dict[str, Any]:
    """Settings from the environment; the instance folder supplies embedded defaults."""
    sqlite_path = Path(instance_path) / "helpdesk.sqlite"
    return {
        "SECRET_KEY": _env("SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": _env("DATABASE_URL", f"sqlite:///{sqlite_path}"),
        "REDIS_URL": _env("REDIS_URL"),
        # "rq" needs REDIS_URL; "thread" runs jobs in-process; "eager" runs them right after
        # commit in the caller's thread (tests and one-shot CLI commands).
        "JOBS_MODE": _env("JOBS_MODE"),
        "BASE_URL": _env("BASE_URL", "http://127.0.0.1:5000"),
        "HELPDESK_NAME": _env("NAME", "Helpdesk"),
        "SUPPORT_ADDRESS": _env("SUPPORT_ADDRESS", "support@example.com"),
        "MAIL_DOMAIN": _env("MAIL_DOMAIN", "helpdesk.invalid"),
        "SMTP_HOST": _env("SMTP_HOST", "127.0.0.1"),
        "SMTP_PORT": _env_int("SMTP_PORT", 25),
        "SMTP_USERNAME": _env("SMTP_USERNAME"),
        "SMTP_PASSWORD": _env("SMTP_PASSWORD"),
        "SMTP_STARTTLS": _env_bool("SMTP_STARTTLS", False),
        "ATTACHMENT_DIR": _env("ATTACHMENT_DIR", str(Path(instance_path) / "attachments")),
        "MAX_ATTACHMENT_BYTES": _env_int("MAX_ATTACHMENT_BYTES", 20 * 1024 * 1024),
        "MAX_EMAIL_BYTES": _env_int("MAX_EMAIL_BYTES", 40 * 1024 * 1024),
        # Mail bigger than this is fetched in pieces into a file in storage and parsed from
        # there, never held whole in memory; smaller mail (nearly all) stays in its row.
        "MAIL_SPOOL_BYTES": _env_int("MAIL_SPOOL_BYTES", 1024 * 1024),
        "MAX_CONTENT_LENGTH": _env_int("MAX_REQUEST_BYTES", 30 * 1024 * 1024),
        "SURVEY_DELAY_SECONDS": _env_int("SURVEY_DELAY_SECONDS", 0),
        "SURVEY_LINK_MAX_AGE_SECONDS": _env_int("SURVEY_LINK_MAX_AGE_SECONDS", 30 * 24 * 3600),
        "MAIL_POLL_SECONDS": _env_int("MAIL_POLL_SECONDS", 30),
        # Private networks that admin-entered URLs (CRM, OAuth token endpoints) may reach,
        # e.g. "10.8.0.0/16" for an on-premise ERP; none by default (helpdesk/outbound_http.py).
        "OUTBOUND_ALLOWED_NETWORKS": _env("OUTBOUND_ALLOWED_NETWORKS", ""),
        # Whether CC'd (and other To) addresses of customer mail join the ticket as participants.
        "MAIL_CC_PARTICIPANTS": _env_bool("MAIL_CC_PARTICIPANTS", True),
        # IMAP IDLE is re-issued before servers drop it (RFC 2177: at least every 29 min).
        "MAIL_IDLE_SECONDS": _env_int("MAIL_IDLE_SECONDS", 25 * 60),
        # A mailbox's fetch lock lapses this long after its holder stops renewing it.
        "MAIL_LOCK_SECONDS": _env_int("MAIL_LOCK_SECONDS", 60),
        "MAIL_RECONNECT_MAX_SECONDS": _env_int("MAIL_RECONNECT_MAX_SECONDS", 300),
        # At most this many automatic mails (acknowledgements) per recipient per hour.
        "MAIL_AUTOMATIC_PER_HOUR": _env_int("MAIL_AUTOMATIC_PER_HOUR", 5),
        "IMAP_CA_FILE": _env("IMAP_CA_FILE"),
        # Stored mail not ingested, or outbox mail not sent, this long after it was queued is
        # queued again by a sweep (its job was lost with a crashed process).
        "MAIL_SWEEP_AFTER_SECONDS": _env_int("MAIL_SWEEP_AFTER_SECONDS", 300),
        "AUTOMATION_SWEEP_SECONDS": _env_int("AUTOMATION_SWEEP_SECONDS", 300),
        "LOGIN_RATE_LIMIT": _env("LOGIN_RATE_LIMIT", "10 per minute"),
        "FORM_RATE_LIMIT": _env("FORM_RATE_LIMIT", "30 per minute"),
        "RATELIMIT_ENABLED": _env_bool("RATELIMIT_ENABLED", True),
        "EXTENSIONS": (_env("EXTENSIONS", DEFAULT_EXTENSIONS) or "").split(","),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _env_bool("SECURE_COOKIES", False),
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "BABEL_DEFAULT_LOCALE": _env("DEFAULT_LOCALE", "en"),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    }
