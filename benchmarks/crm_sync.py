"""CRM sync figures: initial and incremental sync, CSV import, and the customer-360 ticket page.

A generic REST source (``crm_bridge.adapters.rest``) reads a stub CRM served over real HTTP by
a separate process (``ThreadingHTTPServer``, cursor pagination, ``updated_since`` filter, 1,000
records per page), into SQLite and/or a throwaway PostgreSQL (``tests.services``):

1. Initial sync of N profiles (email, name, E.164 phone, company, tier via a value map, owner,
   tags): ``run_sync`` as the rq job runs it, one transaction per page with the watermark.
2. Incremental sync after 1% of the records changed at the CRM.
3. CSV import of N rows with the example mapping and validation (``flask crm import``'s
   code), each in a fresh child process so its peak RSS is its own; done for N/5 and N rows
   to show memory does not grow with the file.
4. The ticket page with the customer-360 sidebar (2,000 tickets, CSAT answers on a third),
   server time measured around Flask's test client (no network), p50/p95.

Every figure is one JSON object per line. Speed is measured, never asserted.

    .venv/bin/python benchmarks/crm_sync.py            # 100,000 profiles, both engines
    .venv/bin/python benchmarks/crm_sync.py --quick    # 5,000 profiles, under a minute
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from crm_bridge.mapping import load_mapping  # noqa: E402
from crm_bridge.models import CrmSource  # noqa: E402
from crm_bridge.sync import run_sync  # noqa: E402
from helpdesk.app import create_app  # noqa: E402
from helpdesk.auth.operations import create_agent  # noqa: E402
from helpdesk.customers.models import Customer  # noqa: E402
from helpdesk.db import db, utcnow  # noqa: E402
from helpdesk.demo import load_default_policies  # noqa: E402
from helpdesk.surveys.models import SurveyInvitation  # noqa: E402
from helpdesk.tickets.models import Message, Ticket  # noqa: E402
from tests.services import PostgresServer, free_port  # noqa: E402

TOKEN = "bench-token"  # noqa: S105
PASSWORD = "bench password x"  # noqa: S105
PAGE_SIZE = 1000
TICKETS = 2000
PAGE_REQUESTS = 200
BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
TIERS = ("A类客户", "B类客户", "C类客户")
MAPPING = {
    "default_region": "CN",
    "fields": {
        "email": {"from": "email", "transforms": ["strip", "lower"]}, "name": "name",
        "phone": {"from": "mobile", "transforms": ["e164"]}, "company": "company.name",
        "tier": {"from": "level", "map": {"A类客户": "VIP", "B类客户": "Standard",
                                          "C类客户": "Standard"}, "strict": True},
        "owner": "owner.name", "tags": {"from": "labels", "transforms": ["split:,"]},
    },
}
POSTGRES_SETTINGS = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on",
                     "shared_buffers": "128MB"}


def emit(metric: str, value: float, unit: str, **context: Any) -> None:
    print(json.dumps({"metric": metric, "value": round(value, 2), "unit": unit, **context}),
          flush=True)


def record(i: int, updated: datetime) -> dict[str, Any]:
    return {"id": f"CRM-{i:07d}", "updated_at": updated.isoformat(),
            "email": f"Customer{i}@Example.com ", "name": f"客户 {i}",
            "mobile": f"138{i:08d}", "company": {"name": f"Company {i % 5000}"},
            "level": TIERS[i % 3], "owner": {"name": f"Owner {i % 40}"},
            "labels": "vip,renewal" if i % 7 == 0 else "standard"}


# --------------------------------------------------------------------------- stub CRM


def serve_stub(port: int, count: int) -> None:
    """Child process: the stub CRM. POST /touch?fraction=0.01 changes that share now."""
    records = [record(i, BASE_TIME + timedelta(seconds=i)) for i in range(count)]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, body: Any) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            fraction = float(parse_qs(urlparse(self.path).query)["fraction"][0])
            now = datetime.now(UTC) - timedelta(seconds=5)
            for index in random.Random(1).sample(range(count), int(count * fraction)):
                records[index] = {**records[index], "updated_at": now.isoformat(),
                                  "owner": {"name": "New owner"}}
            self._json({"touched": int(count * fraction)})

        def do_GET(self) -> None:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.send_response(401)
                self.end_headers()
                return
            query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
            rows = records
            if "updated_since" in query:
                since = datetime.fromisoformat(query["updated_since"])
                rows = [r for r in rows if datetime.fromisoformat(r["updated_at"]) >= since]
            start, limit = int(query.get("cursor", 0)), int(query.get("limit", 100))
            following = str(start + limit) if start + limit < len(rows) else None
            self._json({"data": rows[start:start + limit], "next_cursor": following})

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


@contextmanager
def stub_crm(count: int) -> Iterator[str]:
    port = free_port()
    process = multiprocessing.get_context("fork").Process(target=serve_stub, args=(port, count),
                                                          daemon=True)
    process.start()
    url = f"http://127.0.0.1:{port}"
    import httpx
    for _ in range(200):
        try:
            httpx.get(url + "/customers?limit=1", headers={"Authorization": f"Bearer {TOKEN}"})
            break
        except httpx.TransportError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        process.terminate()
        process.join()


# --------------------------------------------------------------------------- figures


def make_app(database_url: str, directory: Path) -> Any:
    return create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": database_url,
                       "JOBS_MODE": "eager", "ATTACHMENT_DIR": str(directory / "files"),
                       "RATELIMIT_ENABLED": False, "BASE_URL": "http://helpdesk.test",
                       "WTF_CSRF_ENABLED": False, "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8"})


def sync_figures(engine: str, url: str, count: int) -> None:
    source = CrmSource(name="bench-crm", kind="rest", mapping=MAPPING, secrets={"token": TOKEN},
                       record_url_template="https://crm.example.com/c/{external_id}",
                       settings={"base_url": url, "path": "/customers", "records_path": "data",
                                 "updated_field": "updated_at", "pagination": "cursor",
                                 "size_param": "limit", "since_param": "updated_since",
                                 "page_size": PAGE_SIZE})
    db.session.add(source)
    db.session.commit()
    started = time.perf_counter()
    final = [t for t in run_sync(source.id)][-1]
    seconds = time.perf_counter() - started
    assert final.status == "ok" and final.created == count, final
    emit("initial_sync_profiles_per_s", count / seconds, "profiles/s", engine=engine,
         profiles=count, seconds=round(seconds, 2))
    import httpx
    httpx.post(url + "/touch?fraction=0.01")
    started = time.perf_counter()
    final = [t for t in run_sync(source.id)][-1]
    seconds = time.perf_counter() - started
    emit("incremental_sync_1pct_seconds", seconds, "s", engine=engine, profiles=count,
         changed=final.updated, read=final.records)


def seed_tickets(count: int) -> list[int]:
    customers = list(db.session.scalars(select(Customer.id).order_by(Customer.id).limit(count)))
    rng = random.Random(7)
    now = utcnow()
    tickets = []
    for n in range(TICKETS):
        customer_id = customers[rng.randrange(len(customers))] if n % 2 else customers[n % 50]
        ticket = Ticket(subject=f"Question {n}", channel="email", customer_id=customer_id,
                        status=rng.choice(["new", "open", "solved", "closed"]),
                        created_at=now - timedelta(minutes=n), updated_at=now, tags=[],
                        custom_fields={})
        ticket.messages.append(Message(kind="customer", author_customer_id=customer_id,
                                       body_text="Hello, I need help.", channel="email"))
        tickets.append(ticket)
    db.session.add_all(tickets)
    db.session.flush()
    db.session.add_all(SurveyInvitation(ticket_id=t.id, customer_id=t.customer_id,
                                        solved_at=now, rating=1 + t.id % 5, answered_at=now)
                       for t in tickets[::3])
    db.session.commit()
    return [t.id for t in tickets if t.customer_id in customers[:50]]


def page_figures(app: Any, engine: str, count: int) -> None:
    ticket_ids = seed_tickets(count)
    create_agent(email="admin@example.com", name="Admin", password=PASSWORD,
                 role="admin")
    db.session.commit()
    client = app.test_client()
    client.post("/login", data={"email": "admin@example.com", "password": PASSWORD})
    timings = []
    for n in range(PAGE_REQUESTS):
        ticket_id = ticket_ids[n % len(ticket_ids)]
        started = time.perf_counter()
        response = client.get(f"/console/tickets/{ticket_id}")
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200 and "customer-profile" in response.text
    quantiles = statistics.quantiles(timings, n=100, method="inclusive")
    for pct in (50, 95):
        emit(f"ticket_page_with_customer_360_p{pct}", quantiles[pct - 1] * 1000, "ms",
             engine=engine, customers=count, tickets=TICKETS, n=len(timings))


def run_engine(engine: str, database_url: str, directory: Path, count: int) -> None:
    app = make_app(database_url, directory)
    with app.app_context():
        db.create_all()
        load_default_policies()
        db.session.commit()
        with stub_crm(count) as url:
            sync_figures(engine, url, count)
        page_figures(app, engine, count)
        db.session.remove()
        db.engine.dispose()


def import_child(database_url: str, directory: str, csv_path: str, queue: Any) -> None:
    app = make_app(database_url, Path(directory))
    with app.app_context():
        db.create_all()
        from crm_bridge.importer import import_profiles
        started = time.perf_counter()
        summary = import_profiles(csv_path, load_mapping(ROOT / "crm_bridge/examples/mapping.json"),
                                  "bench-import")
        seconds = time.perf_counter() - started
        total = db.session.scalar(select(func.count()).select_from(Customer))
        queue.put((seconds, summary.created, summary.invalid, total,
                   resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def import_figures(directory: Path, count: int) -> None:
    for rows in (count // 5, count):
        path = directory / f"export-{rows}.csv"
        with open(path, "w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["Customer ID", "Full name", "Email", "Phone", "Account", "Segment",
                             "Account owner", "Labels"])
            for i in range(rows):
                email = f"row{i}@example.com" if i % 500 else "not an email"
                writer.writerow([f"X{i}", f"Name {i}", email, f"+1 415 555 {i % 10000:04d}",
                                 f"Company {i % 3000}", ("Enterprise", "SMB")[i % 2],
                                 f"Owner {i % 30}", "a,b"])
        database = directory / f"import-{rows}.sqlite"
        queue: Any = multiprocessing.get_context("fork").Queue()
        child = multiprocessing.get_context("fork").Process(
            target=import_child, args=(f"sqlite:///{database}", str(directory), str(path), queue))
        child.start()
        seconds, created, invalid, total, peak_mb = queue.get()
        child.join()
        emit("csv_import_seconds", seconds, "s", rows=rows, created=created, invalid=invalid,
             customers=total)
        emit("csv_import_peak_rss", peak_mb, "MiB", rows=rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 profiles (under a minute)")
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    count = 5_000 if args.quick else 100_000
    emit("load_average_1m", os.getloadavg()[0], "", cores=os.cpu_count())
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        if args.engine in ("sqlite", "both"):
            run_engine("sqlite", f"sqlite:///{directory / 'bench.sqlite'}", directory, count)
        if args.engine in ("postgresql", "both"):
            with PostgresServer(directory / "pg", settings=POSTGRES_SETTINGS) as postgres:
                run_engine("postgresql", postgres.create_database("bench"), directory, count)
        import_figures(directory, count)
    emit("load_average_1m", os.getloadavg()[0], "", cores=os.cpu_count())


if __name__ == "__main__":
    main()
