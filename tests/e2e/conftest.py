"""End-to-end fixtures: the real product process, real mail servers, a real browser.

The helpdesk runs exactly as an administrator would run it on one machine: ``flask db
upgrade``, ``flask create-admin`` and ``flask mailbox add`` first, then ``flask serve``
(embedded mode: in-process job thread and ticker), configured only through ``HELPDESK_*``
environment variables. Mail goes out to an :class:`~tests.services.SmtpSink` and comes in
from a throwaway Dovecot; Chromium (Debian's, never downloaded) drives the pages.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, sync_playwright

from tests.services import DovecotServer, ReceivedMessage, SmtpSink, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
FLASK = REPO_ROOT / ".venv" / "bin" / "flask"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

SUPPORT_ADDRESS = "support@acme.test"
MAIL_DOMAIN = "mail.acme.test"
IMAP_USER = "support"
ADMIN_EMAIL = "agent@acme.test"
ADMIN_NAME = "Ada Agent"

SERVER_START_TIMEOUT = 30.0
CLI_TIMEOUT = 60.0
#: Longest a browser action (click, fill, navigation) may take; Playwright's default is 30 s.
ACTION_TIMEOUT_MS = 10_000
_PORT_ATTEMPTS = 3


@dataclass
class Helpdesk:
    """A running ``flask serve`` and the mail servers around it."""

    base_url: str
    process: subprocess.Popen[bytes]
    stderr_path: Path
    smtp: SmtpSink
    dovecot: DovecotServer
    imap_password: str
    admin_password: str
    support_address: str = SUPPORT_ADDRESS
    mail_domain: str = MAIL_DOMAIN
    admin_email: str = ADMIN_EMAIL

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def deliver_to_inbox(self, raw: bytes) -> int | None:
        """APPEND ``raw`` to the support mailbox's INBOX, as the customer's MTA would."""
        return self.dovecot.append(IMAP_USER, self.imap_password, raw)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_for_mail(self, matches: Callable[[ReceivedMessage], bool], what: str,
                      timeout: float = 15.0) -> ReceivedMessage:
        """The first mail at the SMTP sink that ``matches``, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            received = self.smtp.messages
            for mail in received:
                if matches(mail):
                    return mail
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                subjects = [str(mail.message["Subject"]) for mail in received]
                pytest.fail(f"no {what} reached the SMTP sink within {timeout:g}s; it got "
                            f"{subjects}\nserver stderr (tail):\n{_tail(self.stderr())}")
            with contextlib.suppress(TimeoutError):
                self.smtp.wait_for(len(received) + 1, timeout=remaining)


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


def _clean_environment() -> dict[str, str]:
    """This process's environment without any helpdesk or Flask settings a developer has."""
    return {name: value for name, value in os.environ.items()
            if not name.startswith(("HELPDESK_", "FLASK_"))}


def _run_cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([str(FLASK), "--app", "wsgi", *args], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False)
    if result.returncode != 0:
        pytest.fail(f"`flask {' '.join(args[:2])}` failed ({result.returncode}):\n"
                    f"{result.stdout}\n{result.stderr}")
    return result.stdout


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _wait_until_serving(process: subprocess.Popen[bytes], url: str) -> bool:
    """True once ``url`` answers 200; False if the process exited or the time ran out."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while process.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    return False


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def helpdesk(tmp_path: Path, smtp: SmtpSink) -> Iterator[Helpdesk]:
    """The product process: set up with the CLI as an administrator would, then ``flask serve``."""
    if not any((REPO_ROOT / "helpdesk" / "migrations" / "versions").glob("*.py")):
        pytest.fail("helpdesk/migrations/versions has no migration: `flask db upgrade` "
                    "cannot create the database")
    imap_password = secrets.token_hex(12)
    admin_password = secrets.token_urlsafe(12)
    dovecot = DovecotServer(tmp_path / "imap", users={IMAP_USER: imap_password}).start()
    try:
        env = _clean_environment() | {
            "PYTHONUNBUFFERED": "1",
            "HELPDESK_SECRET_KEY": secrets.token_hex(32),
            "HELPDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'helpdesk.sqlite'}",
            "HELPDESK_ATTACHMENT_DIR": str(tmp_path / "attachments"),
            "HELPDESK_SMTP_HOST": smtp.host,
            "HELPDESK_SMTP_PORT": str(smtp.port),
            "HELPDESK_SUPPORT_ADDRESS": SUPPORT_ADDRESS,
            "HELPDESK_MAIL_DOMAIN": MAIL_DOMAIN,
            "HELPDESK_MAIL_POLL_SECONDS": "1",
            "HELPDESK_SURVEY_DELAY_SECONDS": "0",
        }
        _run_cli(env, "db", "upgrade")
        _run_cli(env, "create-admin", "--email", ADMIN_EMAIL, "--name", ADMIN_NAME,
                 "--password", admin_password)
        _run_cli(env, "mailbox", "add", "--name", "support", "--address", SUPPORT_ADDRESS,
                 "--imap-host", dovecot.host, "--imap-port", str(dovecot.port),
                 "--username", IMAP_USER, "--password", imap_password, "--security", "none")
        process, base_url, stderr_path = _serve(env, tmp_path)
        try:
            yield Helpdesk(base_url=base_url, process=process, stderr_path=stderr_path,
                           smtp=smtp, dovecot=dovecot, imap_password=imap_password,
                           admin_password=admin_password)
        finally:
            _stop(process)
            # Captured by pytest: shown with the report when the test failed.
            print(f"--- flask serve stderr (tail) ---\n{_tail(stderr_path.read_text())}")
    finally:
        dovecot.stop()


def _serve(env: dict[str, str],
           directory: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Start ``flask serve`` on a free port (retrying when another process took it)."""
    for attempt in range(1, _PORT_ATTEMPTS + 1):
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        stdout_path = directory / f"serve-{attempt}.out"
        stderr_path = directory / f"serve-{attempt}.err"
        with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                [str(FLASK), "--app", "wsgi", "serve", "--port", str(port)],
                cwd=REPO_ROOT, env=env | {"HELPDESK_BASE_URL": base_url},
                stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
        if _wait_until_serving(process, f"{base_url}/login"):
            return process, base_url, stderr_path
        _stop(process)
        errors = stderr_path.read_text(errors="replace")
        if "Address already in use" in errors and attempt < _PORT_ATTEMPTS:
            continue
        pytest.fail(f"flask serve (exit status {process.returncode}) did not answer "
                    f"{base_url}/login within {SERVER_START_TIMEOUT:g}s.\nstderr:\n{errors}\n"
                    f"stdout:\n{stdout_path.read_text(errors='replace')}")
    raise AssertionError("unreachable")


@pytest.fixture
def new_browser_context(tmp_path: Path) -> Iterator[Callable[..., BrowserContext]]:
    """Opens a Chromium with a fresh profile per call: one per person in the story."""
    with sync_playwright() as playwright:
        opened: list[BrowserContext] = []

        def new_context(**options: Any) -> BrowserContext:
            profile = tmp_path / f"chromium-profile-{len(opened)}"
            context = playwright.chromium.launch_persistent_context(
                str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                locale="en-US", **options)
            context.set_default_timeout(ACTION_TIMEOUT_MS)
            opened.append(context)
            return context

        try:
            yield new_context
        finally:
            for context in opened:
                with contextlib.suppress(Exception):
                    context.close()
