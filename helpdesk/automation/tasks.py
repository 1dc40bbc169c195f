"""Automation jobs. Each takes IDs, loads fresh state and is safe to run twice."""

from __future__ import annotations

from helpdesk.auth.models import Agent
from helpdesk.automation.assignment import assign_waiting_tickets
from helpdesk.automation.timed import run_time_automations
from helpdesk.db import db


def sweep_time_automations() -> None:
    """Periodic: remind, solve and close tickets that waited long enough (stamped, idempotent)."""
    run_time_automations()


def pick_up_waiting_tickets(agent_id: int) -> None:
    """An agent came online: hand them (and their available colleagues) the waiting tickets."""
    agent = db.session.get(Agent, agent_id)
    if agent is not None and agent.active and agent.status == "online":
        assign_waiting_tickets(agent)
