"""Production mode: jobs go through a real Redis to a real ``rq worker`` process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select

from helpdesk.actors import SYSTEM
from helpdesk.customers.operations import find_or_create_customer
from helpdesk.db import db
from helpdesk.jobs import JobFailure
from helpdesk.surveys.models import SurveyInvitation
from helpdesk.tickets.operations import open_ticket, update_ticket
from tests.conftest import app_with_schema
from tests.services import RedisServer


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def rq_app(tmp_path, smtp_sink, redis_server):
    redis_server.flushall()
    with app_with_schema(f"sqlite:///{tmp_path / 'helpdesk.sqlite'}", tmp_path, smtp_sink,
                         REDIS_URL=redis_server.url, JOBS_MODE="rq") as app:
        yield app


def _run_worker_until_queues_are_empty(app, queues=("default", "outbound")):
    """``rq worker --burst`` in a separate process configured only through the environment."""
    config = app.config
    env = {
        **os.environ,
        "HELPDESK_SECRET_KEY": config["SECRET_KEY"],
        "HELPDESK_DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
        "HELPDESK_REDIS_URL": config["REDIS_URL"],
        "HELPDESK_SMTP_HOST": config["SMTP_HOST"],
        "HELPDESK_SMTP_PORT": str(config["SMTP_PORT"]),
        "HELPDESK_BASE_URL": config["BASE_URL"],
        "HELPDESK_ATTACHMENT_DIR": config["ATTACHMENT_DIR"],
        "HELPDESK_MAIL_DOMAIN": config["MAIL_DOMAIN"],
        "HELPDESK_SUPPORT_ADDRESS": config["SUPPORT_ADDRESS"],
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    rq = Path(sys.executable).with_name("rq")
    subprocess.run([str(rq), "worker", "--burst", "--url", config["REDIS_URL"], *queues],
                   env=env, check=True, timeout=120, capture_output=True)


def test_solved_ticket_survey_is_sent_by_an_rq_worker(rq_app, smtp_sink, redis_server):
    customer = find_or_create_customer("hana@example.com", "Hana")
    ticket = open_ticket(SYSTEM, customer=customer, subject="Sync stuck", body_text="b",
                         channel="web", acknowledge=False)
    update_ticket(SYSTEM, ticket, status="solved")
    db.session.commit()
    connection = Redis.from_url(redis_server.url)
    assert Queue("default", connection=connection).count == 1
    assert db.session.scalars(select(SurveyInvitation)).all() == []

    _run_worker_until_queues_are_empty(rq_app)
    _run_worker_until_queues_are_empty(rq_app)  # the survey job queued the mail job

    db.session.expire_all()
    [invitation] = db.session.scalars(select(SurveyInvitation)).all()
    assert invitation.ticket_id == ticket.id
    [mail] = smtp_sink.wait_for(1, timeout=10)
    assert mail.rcpt_tos == ("hana@example.com",)


def test_rolled_back_work_enqueues_nothing(rq_app, redis_server):
    customer = find_or_create_customer("ivan@example.com")
    ticket = open_ticket(SYSTEM, customer=customer, subject="s", body_text="b", channel="web",
                         acknowledge=False)
    update_ticket(SYSTEM, ticket, status="solved")
    db.session.rollback()
    assert Queue("default", connection=Redis.from_url(redis_server.url)).count == 0


def explode(ticket_id: int) -> None:
    raise RuntimeError(f"cannot reach the CRM for ticket {ticket_id}")


def test_job_failing_in_the_worker_is_recorded_for_admins(rq_app, redis_server):
    queue = Queue("crm", connection=Redis.from_url(redis_server.url))
    # Enqueued without retries so the test does not wait for backoff: the last attempt
    # is the one that records the failure.
    queue.enqueue("helpdesk.jobs.execute", "tests.integration.test_rq_jobs.explode", 42, "crm")
    _run_worker_until_queues_are_empty(rq_app, ("crm",))
    db.session.expire_all()
    [failure] = db.session.scalars(select(JobFailure)).all()
    assert failure.task == "tests.integration.test_rq_jobs.explode"
    assert failure.queue == "crm" and "cannot reach the CRM" in failure.error
