"""Exact escalation jobs: queued only for steps due before the sweep surely runs again."""

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from helpdesk import jobs
from helpdesk.auth.operations import create_agent
from helpdesk.db import db
from helpdesk.notifications.models import Notification
from helpdesk.sla import SWEEP_SECONDS
from helpdesk.sla.queries import ticket_clocks
from helpdesk.sla.tasks import escalate_clock, run_escalation_sweep
from helpdesk.teams.operations import create_team
from helpdesk.tickets.operations import update_ticket
from tests.conftest import PASSWORD
from tests.sla.conftest import open_vip_ticket

MINUTE = timedelta(minutes=1)


class RecordingRunner:
    """Keeps the jobs queued after each commit instead of running them."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, tuple[Any, ...], float]] = []

    def submit(self, task: str, args: tuple[Any, ...], queue: str, delay: float) -> None:
        self.jobs.append((task, args, delay))

    def escalations(self) -> list[tuple[tuple[Any, ...], float]]:
        return [(args, delay) for task, args, delay in self.jobs
                if task == "helpdesk.sla.tasks.escalate_clock"]


@pytest.fixture
def queued(any_db_app: Flask) -> RecordingRunner:
    runner = RecordingRunner()
    any_db_app.extensions[jobs._RUNNER_KEY] = runner
    return runner


def _first_reply_clock(ticket_id: int) -> Any:
    return next(c for c in ticket_clocks(ticket_id) if c.kind == "first_reply")


def test_opening_a_ticket_whose_warning_is_hours_away_queues_no_escalation_job(
        any_db_app, office_policy, queued):
    ticket = open_vip_ticket()  # first reply due in two hours, warning at 90 minutes
    assert _first_reply_clock(ticket.id).next_action_at is not None
    assert queued.escalations() == []


def test_the_sweep_queues_the_exact_job_before_a_warning_and_the_job_warns_at_its_instant(
        any_db_app, office_policy, clock, queued):
    agent = create_agent(email="owner@example.com", name="Owner", password=PASSWORD)
    ticket = open_vip_ticket()
    update_ticket(agent.as_actor(), ticket, assignee=agent)
    db.session.commit()
    first = _first_reply_clock(ticket.id)
    clock.shift(90 * MINUTE - timedelta(seconds=SWEEP_SECONDS))

    assert run_escalation_sweep() == 0  # nothing due yet...
    db.session.commit()
    assert queued.escalations() == [((first.id,), SWEEP_SECONDS)]  # ...but the warning is near

    clock.shift(timedelta(seconds=SWEEP_SECONDS))  # the job's instant
    assert escalate_clock(first.id) == 1
    db.session.commit()
    warnings = db.session.scalars(select(Notification.kind)).all()
    assert warnings == ["sla-warning"]


def test_a_change_close_to_a_step_queues_its_exact_job_at_once(any_db_app, office_policy, clock,
                                                              queued):
    ticket = open_vip_ticket()
    clock.shift(89 * MINUTE)  # the warning is a minute away
    update_ticket(create_agent(email="a@example.com", name="A", password=PASSWORD).as_actor(),
                  ticket, team=create_team("VIP desk"))  # the team change re-measures
    db.session.commit()
    first = _first_reply_clock(ticket.id)
    assert ((first.id,), 60.0) in queued.escalations()


def test_the_job_that_warns_queues_the_breach_when_it_is_near(any_db_app, office_policy, clock,
                                                             queued):
    ticket = open_vip_ticket()
    first = _first_reply_clock(ticket.id)
    clock.shift(119 * MINUTE)  # the warning is late, the breach a minute away
    assert escalate_clock(first.id) == 1
    db.session.commit()
    assert queued.escalations() == [((first.id,), 60.0)]
