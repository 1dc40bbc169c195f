"""SLA figures, printed as JSON lines (one object per figure). Speed is measured, never asserted.

1. ``add_business_time`` calls per second on one core over realistic calendars (Shanghai with
   lunch and CN holidays/调休, New York with US holidays, a Berlin overnight shift), on fresh
   calendars (per-year tables built on the way) and on warm ones.
2. Re-measuring every open ticket after a policy change (``recompute_open_tickets``) on
   100,000 tickets (each with a ledger segment and two clocks) on a business-hours policy
   saved after they were measured, so every ticket is re-measured; then the same job again,
   when nothing changed (every ticket read and its policy chosen again, none re-measured).
3. The escalation sweep over 1,000,000 open tickets of which 1% have a step due: the sweep
   reads them through the ``next_action_at`` index, stamps them, writes history and
   notifications (the mail copies are a job after commit, not timed).

Both database figures run on SQLite and on a throwaway PostgreSQL (production durability).
``--quick`` uses 10,000 and 50,000 tickets and finishes in well under a minute.

    .venv/bin/python benchmarks/sla.py [--quick] [--engines sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from helpdesk.app import create_app  # noqa: E402
from helpdesk.auth.operations import create_agent  # noqa: E402
from helpdesk.customers.models import Customer  # noqa: E402
from helpdesk.db import db  # noqa: E402
from helpdesk.sla.calendar import BusinessCalendar, add_business_time, parse_weekly_hours  # noqa: E402
from helpdesk.sla.models import SlaClock, SlaSegment, SlaTicket  # noqa: E402
from helpdesk.sla.operations import save_calendar, save_policy  # noqa: E402
from helpdesk.sla.tasks import recompute_open_tickets, sweep  # noqa: E402
from helpdesk.tickets.models import Ticket  # noqa: E402
from tests.services import PostgresServer  # noqa: E402

POSTGRES_SETTINGS = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on",
                     "shared_buffers": "128MB"}
CALENDARS = (
    BusinessCalendar("Shanghai", "Asia/Shanghai",
                     parse_weekly_hours("mon-fri 09:00-12:00 13:00-18:00"), "CN"),
    BusinessCalendar("New York", "America/New_York", parse_weekly_hours("mon-fri 09:00-17:00"),
                     "US"),
    BusinessCalendar("Berlin nights", "Europe/Berlin",
                     parse_weekly_hours("mon-fri 22:00-06:00"), "DE"),
)
#: Targets a helpdesk really sets: 30 minutes to a week of business time.
DURATIONS = [timedelta(minutes=minutes) for minutes in (30, 60, 240, 480, 1440, 2400, 4800)]
NOW = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
BATCH = 50_000


def emit(**figure: object) -> None:
    print(json.dumps(figure), flush=True)


def bench_calendar(calls: int) -> None:
    rng = random.Random(4)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    cases = [(base + timedelta(minutes=rng.randrange(2 * 365 * 24 * 60)), rng.choice(DURATIONS))
             for _ in range(calls)]
    for calendar in CALENDARS:
        fresh = BusinessCalendar(calendar.name, calendar.timezone, calendar.weekly_hours,
                                 calendar.holiday_country)
        for label in ("fresh", "warm"):
            started = time.perf_counter()
            for start, duration in cases:
                add_business_time(fresh, start, duration)
            seconds = time.perf_counter() - started
            emit(figure="add_business_time_per_second", calendar=calendar.name, cache=label,
                 calls=calls, value=round(calls / seconds), unit="calls/s")


def make_app(url: str, directory: Path):
    app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url,
                      "JOBS_MODE": "eager", "EXTENSIONS": [""], "RATELIMIT_ENABLED": False,
                      "ATTACHMENT_DIR": str(directory / "attachments")})
    return app


def seed_tickets(first_id: int, count: int, customer_id: int, agent_id: int,
                 due_share: float, with_ledger: bool) -> None:
    """Open tickets (bulk inserts), each with its policy row and a resolution clock; a
    ``due_share`` of the clocks have their next escalation step due before NOW."""
    rng = random.Random(first_id)
    for start in range(first_id, first_id + count, BATCH):
        ids = range(start, min(start + BATCH, first_id + count))
        created = [NOW - timedelta(minutes=rng.randrange(1, 60 * 24 * 5)) for _ in ids]
        db.session.execute(insert(Ticket), [
            {"id": i, "subject": f"Ticket {i}", "status": "open",
             "priority": rng.choice(("low", "normal", "high", "urgent")), "channel": "email",
             "tags": [], "custom_fields": {}, "customer_id": customer_id,
             "assignee_id": agent_id, "created_at": at, "updated_at": at}
            for i, at in zip(ids, created, strict=True)])
        db.session.execute(insert(SlaTicket), [
            {"ticket_id": i, "policy_id": 1, "explanation": [], "chosen_at": at}
            for i, at in zip(ids, created, strict=True)])
        clocks = []
        for i, at in zip(ids, created, strict=True):
            due = rng.random() < due_share
            action = NOW - timedelta(minutes=5) if due else NOW + timedelta(hours=rng.randrange(
                1, 500))
            clocks.append({"ticket_id": i, "kind": "resolution", "status": "running",
                           "started_at": at, "target_minutes": 480, "elapsed_seconds": 0,
                           "due_at": action, "warn_at": action - timedelta(hours=2),
                           "escalation_step": 1, "next_action_at": action})
            if with_ledger:
                clocks.append({**clocks[-1], "kind": "first_reply", "target_minutes": 120})
        db.session.execute(insert(SlaClock), clocks)
        if with_ledger:
            db.session.execute(insert(SlaSegment), [
                {"ticket_id": i, "category": "open", "started_at": at}
                for i, at in zip(ids, created, strict=True)])
        db.session.commit()


def bench_database(engine: str, url: str, directory: Path, recompute_count: int,
                   sweep_count: int) -> None:
    app = make_app(url, directory)
    with app.app_context():
        db.create_all()
        calendar = save_calendar(None, name="Shanghai", timezone="Asia/Shanghai",
                                 weekly_hours=[[[540, 720], [780, 1080]]] * 5 + [[], []],
                                 holiday_country="CN", holiday_subdivision=None,
                                 closed_dates=[], extra_working_days=[])
        save_policy(None, name="Business hours", position=0, calendar_id=calendar.id,
                    targets={priority: {"first_reply": {"minutes": 120},
                                        "resolution": {"minutes": 480}}
                             for priority in ("low", "normal", "high", "urgent")},
                    escalations=[{"after_minutes": 0, "actions": [["notify", "assignee"]]}])
        agent_id = create_agent(email="agent@example.com", name="Agent", password="x" * 12).id
        db.session.add(Customer(id=1, email="c@example.com", name="C", tags=[], extra={}))
        db.session.commit()

        started = time.perf_counter()
        seed_tickets(1, recompute_count, 1, agent_id, 0.0, with_ledger=True)
        emit(figure="seed_seconds", engine=engine, tickets=recompute_count,
             value=round(time.perf_counter() - started, 1), unit="s")
        if engine == "postgresql":
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        started = time.perf_counter()
        count = recompute_open_tickets()
        db.session.commit()
        emit(figure="recompute_after_policy_change_seconds", engine=engine, tickets=count,
             value=round(time.perf_counter() - started, 2), unit="s")
        # Saving a policy no open ticket runs under: every ticket is read and its policy
        # chosen again, none is re-measured.
        started = time.perf_counter()
        count = recompute_open_tickets()
        db.session.commit()
        emit(figure="recompute_nothing_changed_seconds", engine=engine, remeasured=count,
             value=round(time.perf_counter() - started, 2), unit="s")

        # The sweep's data set: the remaining open tickets with one clock each, 1% due.
        db.session.execute(text("UPDATE sla_clock SET next_action_at = NULL"))
        db.session.commit()
        started = time.perf_counter()
        seed_tickets(recompute_count + 1, sweep_count - recompute_count, 1, agent_id, 0.01,
                     with_ledger=False)
        emit(figure="seed_seconds", engine=engine, tickets=sweep_count - recompute_count,
             value=round(time.perf_counter() - started, 1), unit="s")
        if engine == "postgresql":
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        due = db.session.scalar(text("SELECT count(*) FROM sla_clock WHERE next_action_at <= "
                                     ":now"), {"now": NOW.replace(tzinfo=None)})
        started = time.perf_counter()
        swept = sweep(now=NOW)
        sweep_seconds = time.perf_counter() - started
        db.session.commit()
        total = time.perf_counter() - started
        again = sweep(now=NOW)
        db.session.commit()
        emit(figure="escalation_sweep_seconds", engine=engine, open_tickets=sweep_count,
             due_clocks=due, swept=swept, value=round(sweep_seconds, 3),
             with_commit=round(total, 3), second_run_swept=again, unit="s")
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--engines", default="sqlite,postgresql")
    options = parser.parse_args()
    logging.disable(logging.WARNING)  # "no mail channel" warnings for every notification
    os.environ.setdefault("HELPDESK_SECRET_KEY", "bench")
    recompute_count, sweep_count = (10_000, 50_000) if options.quick else (100_000, 1_000_000)
    emit(figure="machine", cpus=os.cpu_count(), load_average_1m=os.getloadavg()[0])
    bench_calendar(20_000 if options.quick else 200_000)
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        engines = options.engines.split(",")
        if "sqlite" in engines:
            bench_database("sqlite", f"sqlite:///{directory / 'sla.sqlite'}", directory,
                           recompute_count, sweep_count)
        if "postgresql" in engines:
            with PostgresServer(directory / "pg", settings=POSTGRES_SETTINGS) as postgres:
                bench_database("postgresql", postgres.create_database("bench"), directory,
                               recompute_count, sweep_count)


if __name__ == "__main__":
    main()
