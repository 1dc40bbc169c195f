"""Web baseline: web-form submissions per second and console ticket-list latency.

The real app (``wsgi:app``) is served by gunicorn (2 sync workers, configured through
``HELPDESK_*`` variables) on 127.0.0.1 and driven over HTTP with the standard library, the way
a browser does it, on SQLite and/or a throwaway PostgreSQL (``tests.services``):

1. Web form: N visitors, ``CLIENTS`` at a time, each GET /support (CSRF token and session
   cookie), then POST the multipart form (expects 302). Jobs run in-process
   (``JOBS_MODE=thread``) and deliver the acknowledgement mail to a real SMTP server
   (``tests.services.SmtpSink``); the run waits until every one has arrived.
2. Ticket list: 10,000 seeded tickets; an admin who logged in through the /login form times
   GET /console/, /console/?queue=mine and the third keyset page ("Older tickets" twice).
   The two queries behind the page (``queue_page`` and ``queue_counts``) are also timed
   in-process, to see which one dominates.

Every figure is one JSON object per line: ``{"metric", "value", "unit", ...context}``.
Speed is measured, never asserted. Rate limiting is switched off for the run.

Run from the repository root::

    .venv/bin/python benchmarks/web_baseline.py                  # full run, both engines
    .venv/bin/python benchmarks/web_baseline.py --quick          # under a minute
    .venv/bin/python benchmarks/web_baseline.py --engine sqlite  # or postgresql
"""

from __future__ import annotations

import argparse
import html
import http.client
import json
import os
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402

from helpdesk.app import create_app  # noqa: E402
from helpdesk.auth.models import Agent  # noqa: E402
from helpdesk.auth.operations import create_agent  # noqa: E402
from helpdesk.customers.models import Customer  # noqa: E402
from helpdesk.db import db, utcnow  # noqa: E402
from helpdesk.demo import DEFAULT_POLICIES, load_default_policies  # noqa: E402
from helpdesk.teams.operations import create_team  # noqa: E402
from helpdesk.tickets.models import Message, Ticket  # noqa: E402
from helpdesk.tickets.queries import queue_counts, queue_page  # noqa: E402
from tests.services import HOST, PostgresServer, SmtpSink, free_port  # noqa: E402

TICKETS = 10_000
CLIENTS = 4
WORKERS = 2
ADMIN_EMAIL = "admin@example.com"
PASSWORD = "benchmark password"  # noqa: S105
USER_AGENT = "helpdesk-benchmark/1"
# Production-like durability (PostgresServer defaults to fsync=off for the test suite).
POSTGRES_SETTINGS = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on",
                     "shared_buffers": "128MB"}
STATUS_WEIGHTS = {"new": 8, "open": 15, "pending": 8, "on-hold": 4, "solved": 20, "closed": 45}
PRIORITY_WEIGHTS = {"low": 20, "normal": 60, "high": 15, "urgent": 5}
SLA_MINUTES = {priority: (first, resolution) for priority, _, first, resolution in DEFAULT_POLICIES}


@dataclass(frozen=True)
class Sizes:
    submissions: int
    list_requests: int
    query_repeats: int


FULL = Sizes(submissions=1000, list_requests=200, query_repeats=100)
QUICK = Sizes(submissions=60, list_requests=20, query_repeats=10)


def emit(metric: str, value: float, unit: str, **context: Any) -> None:
    print(json.dumps({"metric": metric, "value": round(value, 2), "unit": unit, **context}),
          flush=True)


def percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def emit_latencies(metric: str, seconds: list[float], **context: Any) -> None:
    for pct in (50, 95):
        emit(f"{metric}_p{pct}", percentile(seconds, pct) * 1000, "ms", n=len(seconds), **context)


# --------------------------------------------------------------------------- HTTP client


class Browser:
    """One visitor: an HTTP/1.1 connection (re-opened when the server closes it) and cookies."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection(HOST, port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str, str]:
        """Send one request; return (status, Location header, body text)."""
        headers = {"User-Agent": USER_AGENT, **(headers or {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        page = response.read().decode()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                if morsel.value:
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return response.status, response.headers.get("Location", ""), page

    def get_page(self, path: str) -> str:
        status, location, page = self.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status} {location} {page[:300]!r}")
        return page

    def post_form(self, path: str, fields: dict[str, str]) -> tuple[int, str, str]:
        """POST ``fields`` as multipart/form-data, with an empty file input like a browser."""
        boundary = f"----bench{secrets.token_hex(8)}"
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                 f"{value}\r\n" for name, value in fields.items()]
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="attachment"; '
                     f'filename=""\r\nContent-Type: application/octet-stream\r\n\r\n\r\n')
        body = ("".join(parts) + f"--{boundary}--\r\n").encode()
        return self.request("POST", path, body,
                            {"Content-Type": f"multipart/form-data; boundary={boundary}"})

    def close(self) -> None:
        self.connection.close()


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    if match is None:
        raise RuntimeError(f"no CSRF token on the page: {page[:300]!r}")
    return match.group(1)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


# --------------------------------------------------------------------------- database


def app_settings(database_url: str, tmp: Path, sink: SmtpSink, port: int) -> dict[str, Any]:
    return {
        "SECRET_KEY": "benchmark-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "JOBS_MODE": "thread",
        "ATTACHMENT_DIR": str(tmp / "attachments"),
        "SMTP_HOST": sink.host,
        "SMTP_PORT": sink.port,
        "RATELIMIT_ENABLED": False,
        "BASE_URL": f"http://{HOST}:{port}",
    }


def seed(engine: str, rng: random.Random) -> int:
    """Agents, teams and TICKETS tickets with customers and first messages; the admin's id."""
    teams = [create_team(name) for name in ("Support", "Billing", "Technical", "Sales")]
    admin = create_agent(email=ADMIN_EMAIL, name="Ada Admin", password=PASSWORD, role="admin",
                         teams=teams[:1])
    agents = [create_agent(email=f"agent{i}@example.com", name=f"Agent {i}", password=PASSWORD,
                           teams=[teams[i % len(teams)]]) for i in range(6)]
    assignees = [agent.id for agent in [admin, *agents]]
    now = utcnow()
    db.session.execute(insert(Customer), [
        {"email": f"customer{i}@example.com", "name": f"Customer {i}", "tags": [], "extra": {},
         "tier": rng.choice([None, None, None, "VIP", "Gold"]),
         "created_at": now - timedelta(days=400)} for i in range(TICKETS // 3)])
    customer_ids = list(db.session.scalars(select(Customer.id)))
    rows = []
    for i in range(TICKETS):
        status = rng.choices(list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values()))[0]
        priority = rng.choices(list(PRIORITY_WEIGHTS), list(PRIORITY_WEIGHTS.values()))[0]
        created = now - timedelta(minutes=rng.randint(10, 180 * 24 * 60))
        updated = created + (now - created) * rng.random()
        first_reply, resolution = SLA_MINUTES[priority]
        rows.append({
            "subject": f"Question number {i} about my account", "status": status,
            "priority": priority, "channel": rng.choice(["email", "web"]),
            "customer_id": rng.choice(customer_ids),
            "team_id": None if rng.random() < 0.15 else rng.choice(teams).id,
            "assignee_id": None if status == "new" or rng.random() < 0.1
            else rng.choice(assignees),
            "created_at": created, "updated_at": updated,
            "sla_policy_name": priority.title(),
            "first_reply_due": created + timedelta(minutes=first_reply),
            "resolution_due": created + timedelta(minutes=resolution),
            "first_replied_at": None if status == "new"
            else min(updated, created + timedelta(minutes=rng.randint(5, 600))),
            "solved_at": updated if status in ("solved", "closed") else None,
        })
    db.session.execute(insert(Ticket), rows)
    db.session.execute(insert(Message), [
        {"ticket_id": ticket_id, "kind": "customer", "author_customer_id": customer_id,
         "channel": channel, "created_at": created,
         "body_text": "Hello, I have a question about my invoice.\n" * 5}
        for ticket_id, customer_id, channel, created in db.session.execute(
            select(Ticket.id, Ticket.customer_id, Ticket.channel, Ticket.created_at))])
    db.session.commit()
    if engine == "postgresql":  # autovacuum would do this soon after a bulk load
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    return admin.id


def prepare_database(engine: str, settings: dict[str, Any], sizes: Sizes) -> None:
    """Create the tables, seed them, and time the ticket-list queries in-process."""
    app = create_app(settings)
    with app.app_context():
        db.create_all()
        load_default_policies()
        started = time.perf_counter()
        admin_id = seed(engine, random.Random(42))
        emit("seed_tickets", time.perf_counter() - started, "s", engine=engine, n=TICKETS)
        queries: dict[str, Callable[[Agent], object]] = {
            "queue_page": partial(queue_page, queue="all"), "queue_counts": queue_counts}
        for name, query in queries.items():
            seconds = []
            for _ in range(sizes.query_repeats):
                db.session.remove()  # a fresh session, as in a request
                seconds.append(timed(partial(query, db.session.get_one(Agent, admin_id))))
            emit_latencies(f"{name}_query", seconds, engine=engine, tickets=TICKETS)
        db.session.remove()
        db.engine.dispose()


# --------------------------------------------------------------------------- server


@contextmanager
def gunicorn(settings: dict[str, Any], port: int, log: Path) -> Iterator[None]:
    """Serve ``wsgi:app`` with WORKERS sync workers, configured through the environment."""
    env_names = {"SQLALCHEMY_DATABASE_URI": "DATABASE_URL"}
    env = {**os.environ, **{f"HELPDESK_{env_names.get(key, key)}": str(value)
                            for key, value in settings.items()}}
    env["HELPDESK_RATELIMIT_ENABLED"] = "1" if settings["RATELIMIT_ENABLED"] else "0"
    command = [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS),
               "--bind", f"{HOST}:{port}", "wsgi:app"]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                   stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                Browser(port).get_page("/support")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text()[-2000:]
                    raise RuntimeError(f"gunicorn did not start:\n{tail}") from None
                time.sleep(0.2)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --------------------------------------------------------------------------- benchmarks


def login(port: int) -> Browser:
    browser = Browser(port)
    token = csrf_token(browser.get_page("/login"))
    form = urlencode({"email": ADMIN_EMAIL, "password": PASSWORD, "csrf_token": token})
    status, location, page = browser.request(
        "POST", "/login", form.encode(), {"Content-Type": "application/x-www-form-urlencoded"})
    if status != 302 or not location.endswith("/console/"):
        raise RuntimeError(f"login failed: HTTP {status} {location} {page[:300]!r}")
    return browser


def older_tickets_link(page: str) -> str:
    match = re.search(r'<p class="pager"><a href="([^"]+)"', page)
    if match is None:
        raise RuntimeError("no 'Older tickets' link on the queue page")
    return html.unescape(match.group(1))


def bench_ticket_list(port: int, engine: str, requests: int) -> None:
    browser = login(port)
    page3 = older_tickets_link(browser.get_page(older_tickets_link(browser.get_page("/console/"))))
    for name, path in (("all", "/console/"), ("mine", "/console/?queue=mine"),
                       ("all_page3", page3)):
        for _ in range(3):  # warm-up
            browser.get_page(path)
        seconds = [timed(partial(browser.get_page, path)) for _ in range(requests)]
        if "tickets-table" not in browser.get_page(path):
            raise RuntimeError(f"{path} did not render the ticket list")
        emit_latencies("ticket_list_latency", seconds, engine=engine, queue=name,
                       tickets=TICKETS, clients=1)
    browser.close()


def submit(port: int, i: int) -> float:
    """One visitor opens the support form and sends it; returns the POST's latency."""
    browser = Browser(port)
    token = csrf_token(browser.get_page("/support"))
    subject = f"Order {i} has not arrived" if i % 4 else f"订单 {i} 还没有到"
    fields = {"csrf_token": token, "name": f"Visitor {i}", "email": f"visitor{i}@example.com",
              "subject": subject, "message": "Hello,\nmy parcel is late. Can you check?\n" * 3}
    started = time.perf_counter()
    status, location, page = browser.post_form("/support", fields)
    elapsed = time.perf_counter() - started
    browser.close()
    if status != 302 or "/support/submitted/" not in location:
        raise RuntimeError(f"submission {i}: HTTP {status} {location} {page[:300]!r}")
    return elapsed


def wait_for_mail(sink: SmtpSink, expected: int, stall_seconds: float = 5) -> list[Any]:
    """All ``expected`` mails, or what arrived before the flow stalled for ``stall_seconds``."""
    while True:
        before = len(sink.messages)
        try:
            return sink.wait_for(expected, timeout=stall_seconds)
        except TimeoutError:
            if len(sink.messages) == before:
                return sink.messages


def bench_webform(port: int, engine: str, sink: SmtpSink, submissions: int,
                  log: Path) -> None:
    sink.clear()
    warmup = 2 * WORKERS
    for i in range(warmup):
        submit(port, i)
    wall_start, started = time.time(), time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        seconds = list(pool.map(lambda i: submit(port, i), range(warmup, warmup + submissions)))
    elapsed, posts_done = time.perf_counter() - started, time.time()
    context = {"engine": engine, "clients": CLIENTS, "server": f"gunicorn -w {WORKERS}"}
    emit("webform_submissions_per_s", submissions / elapsed, "1/s", n=submissions, **context)
    emit_latencies("webform_post_latency", seconds, **context)
    expected = warmup + submissions
    mails = wait_for_mail(sink, expected)
    emit("ack_mails_delivered", len({r for mail in mails for r in mail.rcpt_tos}), "mails",
         n=expected, **context)
    if len(mails) < expected:
        errors = sorted(set(re.findall(r"^\w+Error: .*$", log.read_text(), re.MULTILINE)))
        print(f"WARNING {engine}: {len(mails)} of {expected} acknowledgement mails arrived; "
              f"errors in the server log: {errors[:3]}", file=sys.stderr)
        return
    last_mail = max(mail.received_at for mail in mails)
    emit("ack_mail_backlog_after_last_post", max(0.0, last_mail - posts_done), "s",
         n=submissions, **context)
    emit("ack_mails_per_s", submissions / (last_mail - wall_start), "1/s", n=submissions,
         **context)


def run_engine(engine: str, sizes: Sizes, tmp: Path, sink: SmtpSink) -> None:
    with tempfile.TemporaryDirectory(prefix=f"{engine}-", dir=tmp) as work:
        directory = Path(work)
        if engine == "sqlite":
            benchmark(engine, f"sqlite:///{directory / 'helpdesk.sqlite'}", sizes, directory,
                      sink)
            return
        with PostgresServer(directory / "pg", settings=POSTGRES_SETTINGS) as postgres:
            benchmark(engine, postgres.create_database("bench"), sizes, directory, sink)


def benchmark(engine: str, url: str, sizes: Sizes, directory: Path, sink: SmtpSink) -> None:
    port = free_port()
    settings = app_settings(url, directory, sink, port)
    prepare_database(engine, settings, sizes)
    log = directory / "gunicorn.log"
    with gunicorn(settings, port, log):
        bench_ticket_list(port, engine, sizes.list_requests)
        bench_webform(port, engine, sink, sizes.submissions, log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; under a minute")
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    engines = ("sqlite", "postgresql") if args.engine == "both" else (args.engine,)
    emit("load_average_1m", os.getloadavg()[0], "", when="start", cores=os.cpu_count())
    with tempfile.TemporaryDirectory(prefix="helpdesk-bench-") as tmp, SmtpSink() as sink:
        for engine in engines:
            run_engine(engine, sizes, Path(tmp), sink)
    emit("load_average_1m", os.getloadavg()[0], "", when="end", cores=os.cpu_count())


if __name__ == "__main__":
    main()
