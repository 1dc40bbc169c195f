"""Assignment and routing figures.

1. Assignment decision latency: one team of 50 online agents and 10,000 open tickets already
   assigned among them. Each sample is ``assign_by_strategy`` on a fresh unassigned ticket of
   the team: lock the team's turn pointer, load candidates with their open-ticket counters,
   choose, set the assignee, write the history entry, flush. Timed alone ("decision") and with
   the commit ("decision_and_commit"), per strategy, on SQLite and a throwaway PostgreSQL
   (``tests.services``, test-suite settings, ``VACUUM ANALYZE`` after the bulk seed as
   autovacuum would).
2. Routing-rule evaluation (pure, one core): ``evaluate`` of 50 parsed rules (keyword lists in
   English and Chinese, CRM tier and tags, sender domains, business hours) against varied
   ticket facts, in evaluations per second.

Every figure is one JSON object per line: ``{"metric", "value", "unit", ...context}``. Speed is
measured, never asserted.

    .venv/bin/python benchmarks/assignment.py            # full run, both engines
    .venv/bin/python benchmarks/assignment.py --quick    # under a minute
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402

from helpdesk.app import create_app  # noqa: E402
from helpdesk.auth.models import Agent  # noqa: E402
from helpdesk.automation.assignment import assign_by_strategy, team_assignment  # noqa: E402
from helpdesk.automation.loads import recount_open_loads  # noqa: E402
from helpdesk.automation.strategies import STRATEGIES  # noqa: E402
from helpdesk.customers.models import Customer  # noqa: E402
from helpdesk.db import db, utcnow  # noqa: E402
from helpdesk.teams.models import Team, team_membership  # noqa: E402
from helpdesk.tickets.models import Message, Ticket  # noqa: E402
from helpdesk.tickets.routing import (  # noqa: E402
    Rule,
    TicketFacts,
    evaluate,
    parse_action,
    parse_condition,
)
from tests.services import PostgresServer  # noqa: E402

AGENTS = 50
OPEN_TICKETS = 10_000
RULES = 50


def emit(metric: str, value: float, unit: str, **context: Any) -> None:
    print(json.dumps({"metric": metric, "value": round(value, 4), "unit": unit, **context}),
          flush=True)


def percentile(values: list[float], pct: int) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-pct * len(ordered) // 100) - 1)]


def seed(rng: random.Random, samples: int) -> list[int]:
    """One team, 50 online agents, 10k open tickets spread over them; unassigned samples."""
    team = Team(name="Support")
    db.session.add(team)
    db.session.flush()
    skills = ["billing", "vpn", "printer", "sso", "refund"]
    agent_ids = []
    for i in range(AGENTS):
        agent = Agent(email=f"agent{i}@example.com", name=f"Agent {i}", password_hash="!",  # noqa: S106 (no login)
                      role="agent", active=True, status="online", capacity=None,
                      skills=rng.sample(skills, 2), languages=rng.choice([["en"], ["en", "zh"]]),
                      shift="")
        db.session.add(agent)
        db.session.flush()
        agent_ids.append(agent.id)
    db.session.execute(insert(team_membership), [{"team_id": team.id, "agent_id": agent_id}
                                                 for agent_id in agent_ids])
    customer = Customer(email="bench@example.com", name="Bench", tags=[], extra={})
    db.session.add(customer)
    db.session.flush()
    now = utcnow()
    rows = [{"subject": f"Ticket {i}", "status": rng.choice(["new", "open", "pending"]),
             "priority": "normal", "channel": "email", "tags": [], "custom_fields": {},
             "customer_id": customer.id, "team_id": team.id,
             "assignee_id": rng.choice(agent_ids),
             "created_at": now - timedelta(minutes=i), "updated_at": now}
            for i in range(OPEN_TICKETS)]
    for start in range(0, len(rows), 2000):
        db.session.execute(insert(Ticket), rows[start:start + 2000])
    sample_ids = []
    for i in range(samples):
        ticket = Ticket(subject=rng.choice(["VPN down", "发票抬头", "Refund please"]),
                        status="new", priority="normal", channel="email",
                        tags=[rng.choice(skills)], custom_fields={}, customer=customer,
                        team_id=team.id, created_at=now, updated_at=now)
        db.session.add(ticket)
        db.session.flush()
        db.session.add(Message(ticket_id=ticket.id, kind="customer", channel="email",
                               body_text=f"Body {i}", author_customer=customer))
        sample_ids.append(ticket.id)
    team_assignment(team.id)
    recount_open_loads()  # the bulk insert bypassed the ORM that keeps the counter
    db.session.commit()
    return sample_ids


def bench_assignment(engine: str, url: str, directory: Path, samples: int) -> None:
    app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url, "JOBS_MODE": "eager",
                      "ATTACHMENT_DIR": str(directory / "attachments"), "EXTENSIONS": []})
    rng = random.Random(4)
    with app.app_context():
        db.create_all()
        sample_ids = seed(rng, samples * len(STRATEGIES))
        if engine == "postgresql":
            # What autovacuum does after a bulk load: planner statistics and the visibility
            # map that lets the per-agent count read the assignee index alone.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        open_count = db.session.scalar(select(db.func.count(Ticket.id)))
        for index, strategy in enumerate(STRATEGIES):
            decision, with_commit = [], []
            for ticket_id in sample_ids[index * samples:(index + 1) * samples]:
                ticket = db.session.get(Ticket, ticket_id)
                assert ticket is not None
                started = time.perf_counter()
                assign_by_strategy(ticket, strategy)
                decided = time.perf_counter()
                db.session.commit()
                decision.append(decided - started)
                with_commit.append(time.perf_counter() - started)
            for name, values in (("decision", decision), ("decision_and_commit", with_commit)):
                for pct in (50, 95):
                    emit(f"assignment_{name}_p{pct}", percentile(values, pct) * 1000, "ms",
                         engine=engine, strategy=strategy, agents=AGENTS,
                         open_tickets=open_count, samples=len(values))
        db.session.remove()
        db.engine.dispose()


def routing_rules(rng: random.Random) -> list[Rule]:
    english = ["refund", "invoice", "password", "vpn", "outage", "cancel", "printer", "sso"]
    chinese = ["退款", "发票", "密码", "无法登录", "取消订阅", "故障", "打印机", "合同"]
    templates = [
        lambda: [f"keyword {', '.join(rng.sample(english, 2) + rng.sample(chinese, 2))}"],
        lambda: [f"sender_domain example{rng.randrange(20)}.com, corp{rng.randrange(20)}.cn",
                 "channel email"],
        lambda: ["tier VIP", f"customer_tag {rng.choice(['enterprise', 'renewal', 'A类客户'])}"],
        lambda: ["business_hours Asia/Shanghai; mon-fri 09:00-12:00 13:00-18:00",
                 f"subject_keyword {rng.choice(chinese)}"],
        lambda: [f"priority {rng.choice(['high', 'urgent'])}", "ticket_tag escalated"],
    ]
    rules = []
    for i in range(RULES):
        conditions = templates[i % len(templates)]()
        actions = [f"add_tags rule-{i}", rng.choice(["team Billing", "priority high",
                                                     "team Support"])]
        rules.append(Rule(id=i, name=f"rule {i}", events=frozenset({"created"}),
                          conditions=tuple(map(parse_condition, conditions)),
                          actions=tuple(map(parse_action, actions))))
    return rules


def bench_routing(seconds: float) -> None:
    rng = random.Random(7)
    rules = routing_rules(rng)
    start = datetime(2026, 3, 2, tzinfo=UTC)
    facts = [TicketFacts(
        channel=rng.choice(["email", "web"]), origin="support@example.com",
        sender_email=f"user@example{rng.randrange(40)}.com",
        subject=rng.choice(["Refund for invoice 42", "发票抬头需要修改", "VPN outage again",
                            "无法登录系统"]),
        body=" ".join(rng.choice(["please", "help", "退款", "合同", "urgent", "thanks"])
                      for _ in range(60)),
        priority=rng.choice(["normal", "high", "urgent"]), team="",
        tier=rng.choice(["VIP", "", "Gold"]), company="Acme",
        customer_tags=tuple(rng.sample(["enterprise", "renewal", "A类客户", "trial"], 2)),
        ticket_tags=(), now=start + timedelta(minutes=rng.randrange(7 * 24 * 60)))
        for _ in range(200)]
    evaluations = matches = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        for item in facts:
            matches += len(evaluate(rules, item, "created"))
        evaluations += len(facts)
    elapsed = time.perf_counter() - started
    emit("routing_evaluations_per_second", evaluations / elapsed, "tickets/s", rules=RULES,
         average_matching_rules=round(matches / evaluations, 2), evaluations=evaluations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples; under a minute")
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    options = parser.parse_args()
    samples = 50 if options.quick else 300
    emit("load_average_1m", os.getloadavg()[0], "load", cores=os.cpu_count())
    bench_routing(2 if options.quick else 10)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        if options.engine in ("sqlite", "both"):
            bench_assignment("sqlite", f"sqlite:///{directory / 'bench.sqlite'}", directory,
                             samples)
        if options.engine in ("postgresql", "both"):
            with PostgresServer(directory / "postgres") as server:
                bench_assignment("postgresql", server.create_database(), directory, samples)
    emit("load_average_1m", os.getloadavg()[0], "load", cores=os.cpu_count())


if __name__ == "__main__":
    main()
