"""SLA fixtures: frozen time, a policy in business hours with escalation levels."""

from datetime import UTC, datetime

import pytest
import time_machine

from helpdesk.actors import SYSTEM
from helpdesk.customers.operations import find_or_create_customer
from helpdesk.db import db
from helpdesk.sla.models import SlaPolicy
from helpdesk.sla.operations import save_calendar, save_policy
from helpdesk.tickets.operations import open_ticket

#: Monday 2 March 2026, 09:00 in Shanghai.
MONDAY_9 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_9, tick=False) as traveller:
        yield traveller


@pytest.fixture
def office_policy(clock):
    """Before the Standard policy: VIP customers, Shanghai office hours, four levels."""
    calendar = save_calendar(None, name="Shanghai office", timezone="Asia/Shanghai",
                             weekly_hours=[[[540, 720], [780, 1080]]] * 5 + [[], []],
                             holiday_country="CN", holiday_subdivision=None, closed_dates=[],
                             extra_working_days=[])
    for row in db.session.query(SlaPolicy):
        row.position = 10
    policy = save_policy(
        None, name="VIP office hours", position=0, calendar_id=calendar.id,
        conditions={"customer_tier": ["VIP"]},
        targets={"normal": {"first_reply": {"minutes": 120}, "next_reply": {"minutes": 60},
                            "resolution": {"minutes": 480}},
                 "high": {"first_reply": {"minutes": 60}, "resolution": {"minutes": 240}}},
        warn_share=0.75,
        escalations=[{"after_minutes": 0, "actions": [["notify", "assignee"],
                                                       ["add_tag", "sla-breached"]]},
                     {"after_minutes": 60, "actions": [["raise_priority"],
                                                        ["notify", "team_lead"]]}])
    db.session.commit()
    return policy


def open_vip_ticket(**kwargs):
    customer = find_or_create_customer("vip@example.com", "Vera VIP")
    customer.tier = "VIP"
    customer.extra = {"timezone": "Europe/Berlin"}
    ticket = open_ticket(SYSTEM, customer=customer, subject="Export broken",
                         body_text="Help", channel="email", **kwargs)
    db.session.commit()
    return ticket
