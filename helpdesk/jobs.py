"""Background jobs: one API, three runners.

Jobs are plain functions named by dotted path (``"helpdesk.surveys.tasks.send_survey"``) that
take IDs, load fresh state, are safe to run twice, and never commit: :func:`_run` commits once
per job. Where they run depends on configuration:

* ``rq``     (``HELPDESK_REDIS_URL`` set): RQ queues, ``rq worker`` processes, retries with
  backoff, periodic work from ``rq cron helpdesk/cron.py``.
* ``thread`` (embedded default): one in-process worker thread with the same retries, and a
  ticker thread for periodic work started by ``flask serve``.
* ``eager``: right after commit in the caller's thread; failures propagate (tests, CLI).

A job that still fails after its retries is recorded as a :class:`JobFailure` row, which
admins see in the console, whichever runner ran it.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Protocol

from flask import Flask, current_app
from rq import SimpleWorker
from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.utils import import_string

from helpdesk.db import Model, UTCDateTime, after_commit, batch_cache, db, utcnow

log = logging.getLogger(__name__)

QUEUES = ("inbound", "outbound", "sla", "crm", "default")
RETRY_DELAYS_SECONDS = (10, 60, 300)
_RUNNER_KEY = "helpdesk.jobs.runner"
_PERIODIC_KEY = "helpdesk.jobs.periodic"
_SERVICES_KEY = "helpdesk.jobs.services"


class JobFailure(Model):
    """A job that failed after all its retries; kept until an admin dismisses it."""

    __tablename__ = "job_failure"

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(200))
    queue: Mapped[str] = mapped_column(String(40))
    arguments: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


@dataclass(frozen=True, slots=True)
class PeriodicTask:
    task: str
    seconds: int
    queue: str = "default"


class Runner(Protocol):
    def submit(self, task: str, args: tuple[Any, ...], queue: str, delay: float) -> None: ...


def enqueue(task: str, *args: Any, queue: str = "default", delay: float = 0) -> None:
    """Queue ``task(*args)`` to run after the current unit of work commits."""
    runner = _runner(current_app._get_current_object())  # type: ignore[attr-defined]
    after_commit(lambda: runner.submit(task, args, queue, delay))


def enqueue_now(task: str, *args: Any, queue: str = "default", delay: float = 0) -> None:
    """Queue ``task(*args)`` immediately (for callers outside any transaction: the ticker)."""
    _runner(current_app._get_current_object()).submit(  # type: ignore[attr-defined]
        task, args, queue, delay)


def register_periodic(app: Flask, task: str, seconds: int, queue: str = "default") -> None:
    app.extensions.setdefault(_PERIODIC_KEY, []).append(PeriodicTask(task, seconds, queue))


def periodic_tasks(app: Flask) -> list[PeriodicTask]:
    return list(app.extensions.get(_PERIODIC_KEY, []))


def register_embedded_service(app: Flask, start: Callable[[Flask], None]) -> None:
    """A long-running in-process service (e.g. mailbox watchers) that ``flask serve`` starts
    beside the ticker in embedded mode; in production it runs as its own command."""
    app.extensions.setdefault(_SERVICES_KEY, []).append(start)


def embedded_services(app: Flask) -> list[Callable[[Flask], None]]:
    return list(app.extensions.get(_SERVICES_KEY, []))


def _run(task: str, args: tuple[Any, ...]) -> None:
    """Run one job in the current app context: one commit, rollback on error. Settings read
    through :func:`helpdesk.db.cached` are read once per job."""
    func: Callable[..., Any] = import_string(task)
    try:
        with batch_cache():
            func(*args)
            db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    finally:
        db.session.remove()


def _record_failure(app: Flask, task: str, args: tuple[Any, ...], queue: str, error: str) -> None:
    log.error("job %s%r failed for good: %s", task, args, error.splitlines()[-1:])
    with app.app_context():
        db.session.add(JobFailure(task=task, queue=queue, arguments=json.dumps(args, default=str),
                                  error=error))
        db.session.commit()
        db.session.remove()


def _runner(app: Flask) -> Runner:
    """The app's runner; ``app`` must be the real app, not the ``current_app`` proxy, since
    the thread runner uses it from a thread that has no app context."""
    runner: Runner | None = app.extensions.get(_RUNNER_KEY)
    if runner is None:
        mode = app.config["JOBS_MODE"]
        if mode == "rq":
            runner = RqRunner(app.config["REDIS_URL"])
        elif mode == "eager":
            runner = EagerRunner(app)
        else:
            runner = ThreadRunner(app)
        app.extensions[_RUNNER_KEY] = runner
    return runner


class EagerRunner:
    def __init__(self, app: Flask) -> None:
        self.app = app

    def submit(self, task: str, args: tuple[Any, ...], queue: str, delay: float) -> None:
        # A fresh app context gets a fresh session, so a job can run from inside another
        # session's after-commit hook.
        with self.app.app_context():
            _run(task, args)


class ThreadRunner:
    """One worker thread draining a time-ordered heap; retries with backoff."""

    def __init__(self, app: Flask, retry_delays: tuple[float, ...] = RETRY_DELAYS_SECONDS) -> None:
        self.app = app
        self.retry_delays = retry_delays
        self._heap: list[tuple[float, int, str, tuple[Any, ...], str, int]] = []
        self._counter = itertools.count()
        self._wakeup = threading.Condition()
        self._thread: threading.Thread | None = None
        self._busy = False

    def submit(self, task: str, args: tuple[Any, ...], queue: str, delay: float,
               attempt: int = 0) -> None:
        with self._wakeup:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._counter), task, args,
                                        queue, attempt))
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="helpdesk-jobs",
                                                daemon=True)
                self._thread.start()
            self._wakeup.notify()

    def idle(self) -> bool:
        with self._wakeup:
            return not self._heap and not self._busy

    def _work(self) -> None:
        while True:
            with self._wakeup:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wakeup.wait(timeout)
                _, _, task, args, queue, attempt = heapq.heappop(self._heap)
                self._busy = True
            try:
                with self.app.app_context():
                    _run(task, args)
            except Exception:
                if attempt < len(self.retry_delays):
                    log.warning("job %s%r failed, retry %d", task, args, attempt + 1,
                                exc_info=True)
                    self.submit(task, args, queue, self.retry_delays[attempt], attempt + 1)
                else:
                    _record_failure(self.app, task, args, queue, traceback.format_exc())
            finally:
                self._busy = False


class RqRunner:
    def __init__(self, redis_url: str) -> None:
        from redis import Redis

        self.connection = Redis.from_url(redis_url)

    def submit(self, task: str, args: tuple[Any, ...], queue: str, delay: float) -> None:
        from rq import Queue, Retry

        rq_queue = Queue(queue, connection=self.connection)
        retry = Retry(max=len(RETRY_DELAYS_SECONDS), interval=list(RETRY_DELAYS_SECONDS))
        if delay > 0:
            rq_queue.enqueue_in(timedelta(seconds=delay), execute, task, *args, queue,
                                retry=retry)
        else:
            rq_queue.enqueue(execute, task, *args, queue, retry=retry)


@cache
def _worker_app() -> Flask:
    from helpdesk.app import create_app

    return create_app()


class Worker(SimpleWorker):
    """``rq worker --worker-class helpdesk.jobs.Worker``: runs jobs in the worker process
    itself, with the app (and its database connection pool) built once. rq's default forks
    a work horse per job, paying for the fork, copy-on-write faults and a new database
    connection on every job. A job that crashes the process loses only
    itself: rq moves it to the failed registry on the worker's next start, and the email
    sweeps re-queue its work."""

    def work(self, *args: Any, **kwargs: Any) -> bool:
        _worker_app()
        return bool(super().work(*args, **kwargs))


def execute(task: str, *args: Any) -> None:
    """Entry point for ``rq worker``: run ``task`` in an app context (last arg: queue name)."""
    from rq import get_current_job

    *task_args, queue = args
    app = _worker_app()
    try:
        with app.app_context():
            _run(task, tuple(task_args))
    except Exception:
        job = get_current_job()
        if job is None or not job.retries_left:
            _record_failure(app, task, tuple(task_args), queue, traceback.format_exc())
        raise


class Ticker:
    """Embedded mode's stand-in for ``rq cron``: queues each periodic task on its interval."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._stop = threading.Event()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._tick, name="helpdesk-ticker", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def _tick(self) -> None:
        next_run = {task: 0.0 for task in periodic_tasks(self.app)}
        while not self._stop.is_set():
            now = time.monotonic()
            for task, due in next_run.items():
                if due <= now:
                    with self.app.app_context():
                        enqueue_now(task.task, queue=task.queue)
                    next_run[task] = now + task.seconds
            self._stop.wait(0.2)
