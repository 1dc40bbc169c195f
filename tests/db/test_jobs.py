"""The embedded job runner retries, then records the failure where admins see it."""

import time

from sqlalchemy import select

from helpdesk.db import db
from helpdesk.jobs import JobFailure, ThreadRunner

CALLS: list[int] = []


def failing_task(ticket_id: int) -> None:
    CALLS.append(ticket_id)
    raise RuntimeError("CRM unreachable")


def flaky_task(ticket_id: int) -> None:
    CALLS.append(ticket_id)
    if len(CALLS) < 2:
        raise RuntimeError("first try fails")


def _wait_idle(runner: ThreadRunner, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not runner.idle() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_job_that_keeps_failing_is_retried_then_recorded(app):
    CALLS.clear()
    runner = ThreadRunner(app, retry_delays=(0.01, 0.01))
    runner.submit("tests.db.test_jobs.failing_task", (7,), "crm", 0)
    _wait_idle(runner)
    assert CALLS == [7, 7, 7]
    [failure] = db.session.scalars(select(JobFailure)).all()
    assert failure.task == "tests.db.test_jobs.failing_task"
    assert failure.queue == "crm" and "CRM unreachable" in failure.error


def test_job_that_succeeds_on_retry_leaves_no_failure(app):
    CALLS.clear()
    runner = ThreadRunner(app, retry_delays=(0.01,))
    runner.submit("tests.db.test_jobs.flaky_task", (1,), "default", 0)
    _wait_idle(runner)
    assert CALLS == [1, 1]
    assert db.session.scalars(select(JobFailure)).all() == []


def test_enqueued_job_runs_on_the_embedded_thread_after_commit(tmp_path, smtp_sink):
    """The path ``flask serve`` uses: enqueue inside a unit of work, run on the job thread."""
    from helpdesk import jobs
    from tests.conftest import make_app

    CALLS.clear()
    app = make_app(f"sqlite:///{tmp_path / 'thread.sqlite'}", tmp_path, smtp_sink,
                   JOBS_MODE="thread")
    with app.app_context():
        db.create_all()
        jobs.enqueue("tests.db.test_jobs.flaky_task", 5)
        jobs.enqueue("tests.db.test_jobs.flaky_task", 6)
        assert CALLS == []  # nothing runs before commit
        db.session.commit()
        runner = app.extensions["helpdesk.jobs.runner"]
        runner.retry_delays = (0.01,)
    _wait_idle(runner)
    assert sorted(CALLS) == [5, 5, 6]  # the first call fails once and is retried
