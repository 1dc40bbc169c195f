"""Email intake figures: throughput, CPU per mail, correctness, latency and memory.

    python benchmarks/email_intake.py [--quick] [--db sqlite|postgresql|both] [--corpus DIR]
                                      [--only throughput|backlog|latency|memory]

The corpus comes from ``tests/email/corpus.py`` with seed 42 (plain, HTML, attachments,
40 % replies, ~30 % Chinese; a fifth of the GBK mail as raw 8-bit bytes), or with
``--corpus DIR`` from any pre-generated directory with the same ``manifest.json``. It is
APPENDed to a real Dovecot over several connections in a locally shuffled order (so some
replies arrive before their parent) while the processes run ("throughput"), or all before
they start ("backlog": the pipeline's own capacity), and is taken in by the production
processes: ``flask mailbox watch`` (IMAP IDLE) and two ``rq worker`` processes on Redis, with
SQLite or PostgreSQL. Prints one JSON object per figure. ``--quick`` (300 mails, SQLite, no
50 MB mail) finishes in under a minute.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.email.corpus import generate
from tests.integration.email_stack import IntakeStack, Process
from tests.services import DovecotServer, PostgresServer, RedisServer, SmtpSink

SEED = 42
USER, PASSWORD = "support", "support-password"


def emit(**figure: Any) -> None:
    print(json.dumps(figure, ensure_ascii=False), flush=True)


def corpus(directory: Path) -> tuple[list[dict[str, Any]], list[bytes]]:
    manifest = json.loads((directory / "manifest.json").read_text("utf-8"))["messages"]
    return manifest, [(directory / item["file"]).read_bytes() for item in manifest]


def token_pattern(manifest: list[dict[str, Any]]) -> re.Pattern[str]:
    """The shape of the corpus's tokens (``CASE-42-000001`` → letters, dash, digits), so
    ``--corpus`` works with any generator that writes the same manifest."""
    return re.compile(re.sub(r"\d+", r"\\d+", re.escape(manifest[0]["token"])))


def delivery_order(manifest: list[dict[str, Any]]) -> list[int]:
    """Shuffle within windows of 8: real delivery reorders nearby mail, replies included."""
    rng = random.Random(SEED)
    order = list(range(len(manifest)))
    for start in range(0, len(order), 8):
        window = order[start:start + 8]
        rng.shuffle(window)
        order[start:start + 8] = window
    return order


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as connection:
        return connection.execute(text(sql), params).scalar()


@contextmanager
def installation(tmp: Path, database: str, smtp: SmtpSink, **settings: str,
                 ) -> Iterator[tuple[IntakeStack, DovecotServer, Engine]]:
    with ExitStack() as stack:
        redis = stack.enter_context(RedisServer(tmp / "redis"))
        dovecot = stack.enter_context(DovecotServer(tmp / "dovecot"))
        dovecot.add_user(USER, PASSWORD)
        if database == "postgresql":
            url = stack.enter_context(PostgresServer(tmp / "postgres")).url
        else:
            url = f"sqlite:///{tmp / 'helpdesk.sqlite'}"
        intake = IntakeStack(tmp, url, redis.url, (smtp.host, smtp.port),
                             MAIL_POLL_SECONDS="3600", **settings)
        stack.callback(intake.stop_all)
        intake.migrate()
        intake.add_mailbox(dovecot.host, dovecot.port, USER, PASSWORD)
        engine = create_engine(url)
        stack.callback(engine.dispose)
        yield intake, dovecot, engine


def start_processes(intake: IntakeStack, engine: Engine) -> list[Process]:
    processes = [intake.watcher(), intake.worker(0, "inbound", "outbound"),
                 intake.worker(1, "inbound", "outbound")]
    wait_for(lambda: scalar(engine, "SELECT connection_state FROM email_mailbox") == "idle",
             60, "the watcher never reached IDLE")
    return processes


#: Concurrent IMAP connections delivering the corpus, as several MTAs deliver at once; one
#: connection APPENDs only ~60-100 mails/s here, which would cap the figure, not our intake.
APPENDERS = 4


def append(dovecot: DovecotServer, mails: list[bytes], connections: int = 1) -> None:
    """APPEND ``mails``; with several connections, mail i goes over connection i mod n, so
    the arrival order stays close to the given one."""
    def deliver(share: list[bytes]) -> None:
        client = dovecot.connect(USER, PASSWORD)
        try:
            for raw in share:
                client.append("INBOX", raw)
        finally:
            client.logout()

    threads = [threading.Thread(target=deliver, args=(mails[start::connections],))
               for start in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def all_taken_in(engine: Engine, n: int) -> bool:
    return bool(scalar(engine, "SELECT count(*) FROM email_raw WHERE status <> 'new'") == n)


def throughput(database: str, manifest: list[dict[str, Any]], mails: list[bytes], tmp: Path,
               smtp: SmtpSink) -> None:
    n = len(mails)
    order = delivery_order(manifest)
    with installation(tmp / "run", database, smtp) as (intake, dovecot, engine):
        processes = start_processes(intake, engine)
        cpu_before = sum(process.cpu_seconds() for process in processes)
        started = time.monotonic()
        append(dovecot, [mails[index] for index in order], APPENDERS)
        appended = time.monotonic() - started
        wait_for(partial(all_taken_in, engine, n), 1800, "intake did not finish")
        elapsed = time.monotonic() - started
        cpu = sum(process.cpu_seconds() for process in processes) - cpu_before
        emit(figure="intake_throughput", db=database, n=n, mails_per_s=round(n / elapsed, 1),
             seconds=round(elapsed, 1), append_seconds=round(appended, 1),
             appenders=APPENDERS, target=200)
        emit(figure="intake_cpu_ms_per_mail", db=database, n=n,
             cpu_ms_per_mail=round(1000 * cpu / n, 2), processes="watcher + 2 rq workers",
             target=5)
        correctness(database, manifest, order, engine)


def backlog(database: str, manifest: list[dict[str, Any]], mails: list[bytes], tmp: Path,
            smtp: SmtpSink) -> None:
    """The same corpus already waiting in the mailbox (after downtime, or a burst faster than
    the delivering side here can APPEND): the pipeline's own capacity, from starting the
    processes to the last mail taken in (their start-up included)."""
    n = len(mails)
    order = delivery_order(manifest)
    with installation(tmp / "backlog", database, smtp) as (intake, dovecot, engine):
        append(dovecot, [mails[index] for index in order], APPENDERS)
        started = time.monotonic()
        processes = [intake.watcher(), intake.worker(0, "inbound", "outbound"),
                     intake.worker(1, "inbound", "outbound")]
        wait_for(partial(all_taken_in, engine, n), 1800, "intake did not finish")
        elapsed = time.monotonic() - started
        cpu = sum(process.cpu_seconds() for process in processes)
        emit(figure="intake_backlog_throughput", db=database, n=n,
             mails_per_s=round(n / elapsed, 1), seconds=round(elapsed, 1),
             cpu_ms_per_mail=round(1000 * cpu / n, 2), target=200)
        correctness(database, manifest, order, engine)


def correctness(database: str, manifest: list[dict[str, Any]], order: list[int],
                engine: Engine) -> None:
    with engine.connect() as connection:
        messages = connection.execute(text("SELECT id, ticket_id, body_text FROM message")).all()
        statuses: dict[str, int] = dict(connection.execute(text(
            "SELECT status, count(*) FROM email_raw GROUP BY status")).all())
        attachments = connection.execute(text("SELECT message_id, filename FROM attachment"))
        files_by_message: dict[int, list[str]] = defaultdict(list)
        for message_id, filename in attachments:
            files_by_message[message_id].append(filename)
    tickets_of: dict[str, set[int]] = defaultdict(set)
    message_of: dict[str, int] = {}
    body_of: dict[str, str] = {}
    token = token_pattern(manifest)
    for message_id, ticket_id, body in messages:
        # A reply quotes its parent's probe; its own token is the first one in its text.
        found = token.search(body or "")
        if found:
            tickets_of[found.group()].add(ticket_id)
            message_of[found.group()] = message_id
            body_of[found.group()] = body
    on_one_ticket = sum(1 for item in manifest if len(tickets_of[item["token"]]) == 1)
    token_of = {item["message_id"]: item["token"] for item in manifest}
    position = {manifest[index]["message_id"]: rank for rank, index in enumerate(order)}
    replies = [item for item in manifest if item["is_reply"]]
    early = [item for item in replies
             if position[item["message_id"]] < position[item["parent_message_id"]]]

    def threaded(item: dict[str, Any]) -> bool:
        root = tickets_of[token_of[item["root_message_id"]]]
        return len(root) == 1 and tickets_of[item["token"]] == root

    expected_files = sum(len(item["attachments"]) for item in manifest)
    kept_files = sum(
        1 for item in manifest for attachment in item["attachments"]
        if attachment["name"] in files_by_message.get(message_of.get(item["token"], -1), []))
    raw_gbk = [item for item in manifest if item["charset"] == "gbk" and item["cte"] == "8bit"]
    decoded = sum(1 for item in raw_gbk if item["probe"] in body_of.get(item["token"], ""))
    emit(figure="intake_correctness", db=database, n=len(manifest),
         mails_on_exactly_one_ticket=on_one_ticket, raw_status=statuses,
         replies=len(replies), replies_threaded_pct=pct(sum(map(threaded, replies)),
                                                        len(replies)),
         replies_before_parent=len(early),
         replies_before_parent_threaded_pct=pct(sum(map(threaded, early)), len(early)),
         attachments_expected=expected_files, attachments_kept_pct=pct(kept_files,
                                                                       expected_files),
         raw_8bit_gbk_mails=len(raw_gbk), raw_8bit_gbk_decoded_pct=pct(decoded, len(raw_gbk)))


def pct(part: int, whole: int) -> float:
    return round(100 * part / whole, 2) if whole else 100.0


def latency(database: str, samples: int, tmp: Path, smtp: SmtpSink) -> None:
    """APPEND one mail at a time; time until its ticket row exists (what the console lists)."""
    with installation(tmp / "latency", database, smtp) as (intake, dovecot, engine):
        start_processes(intake, engine)
        client = dovecot.connect(USER, PASSWORD)
        timings = []
        try:
            for number in range(samples):
                subject = f"Latency probe {number}"
                started = time.monotonic()
                client.append("INBOX", simple_mail(subject, "How fast?"))
                wait_for(partial(ticket_exists, engine, subject), 30, "no ticket")
                timings.append(time.monotonic() - started)
                time.sleep(0.3)
        finally:
            client.logout()
        timings.sort()
        emit(figure="intake_latency_append_to_ticket", db=database, samples=samples,
             p50_s=round(timings[len(timings) // 2], 3),
             p95_s=round(timings[max(int(len(timings) * 0.95) - 1, 0)], 3),
             max_s=round(timings[-1], 3), target_p95_s=1.0)


def ticket_exists(engine: Engine, subject: str) -> bool:
    return bool(scalar(engine, "SELECT count(*) FROM ticket WHERE subject = :s", s=subject) == 1)


def simple_mail(subject: str, body: str, attachment: bytes | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = "Bench Customer <bench@customer.example>"
    message["To"] = "support@helpdesk.example"
    message["Subject"] = subject
    message.set_content(body)
    if attachment is not None:
        message.add_attachment(attachment, maintype="application", subtype="octet-stream",
                               filename="big.bin")
    return message.as_bytes()


def memory(database: str, tmp: Path, smtp: SmtpSink) -> None:
    """A mail with a 50 MB attachment through one worker that runs jobs in its own process."""
    size = 50 * 1024 * 1024
    with installation(tmp / "memory", database, smtp, MAX_EMAIL_BYTES=str(120 * 1024 * 1024),
                      MAX_ATTACHMENT_BYTES=str(80 * 1024 * 1024)) as (intake, dovecot, engine):
        watcher = intake.watcher()
        worker = intake.worker(0, "inbound", simple=True)
        wait_for(lambda: scalar(engine, "SELECT connection_state FROM email_mailbox") == "idle",
                 60, "the watcher never reached IDLE")
        time.sleep(1)
        baseline = worker.peak_rss_mb()
        append(dovecot, [simple_mail("Big attachment", "See attached.",
                                     random.Random(SEED).randbytes(size))])
        wait_for(lambda: scalar(engine, "SELECT count(*) FROM email_raw WHERE status <> 'new'")
                 == 1, 600, "the big mail was not ingested")
        status = scalar(engine, "SELECT status FROM email_raw")
        emit(figure="intake_memory_50mb_attachment", db=database, status=status,
             worker_peak_rss_mb=round(worker.peak_rss_mb(), 1),
             worker_rss_before_mb=round(baseline, 1),
             watcher_peak_rss_mb=round(watcher.peak_rss_mb(), 1), target_worker_mb=200)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"])
    parser.add_argument("--corpus", type=Path, help="a pre-generated corpus directory")
    parser.add_argument("--only", choices=["throughput", "backlog", "latency", "memory"],
                        help="take one figure only (memory runs even with --quick)")
    args = parser.parse_args()
    wanted = {args.only} if args.only else {"throughput", "backlog", "latency"} | (
        set() if args.quick else {"memory"})
    databases = {"sqlite": ["sqlite"], "postgresql": ["postgresql"],
                 "both": ["sqlite", "postgresql"], None: None}[args.db] or (
        ["sqlite"] if args.quick else ["sqlite", "postgresql"])
    with tempfile.TemporaryDirectory(prefix="email-intake-") as directory, SmtpSink() as smtp:
        tmp = Path(directory)
        if wanted & {"throughput", "backlog"}:
            if args.corpus is None:
                args.corpus = tmp / "corpus"
                generate(300 if args.quick else 5000, args.corpus, seed=SEED, raw8bit_gbk=0.2)
            manifest, mails = corpus(args.corpus)
        for database in databases:
            base = tmp / database
            base.mkdir()
            if "throughput" in wanted:
                throughput(database, manifest, mails, base, smtp)
                smtp.clear()
            if "backlog" in wanted:
                backlog(database, manifest, mails, base, smtp)
                smtp.clear()
            if "latency" in wanted:
                latency(database, 10 if args.quick else 40, base, smtp)
            if "memory" in wanted:
                memory(database, base, smtp)


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
