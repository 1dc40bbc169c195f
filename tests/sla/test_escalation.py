"""The escalation sweep: warnings, breach levels, stamps (a second run does nothing)."""

from datetime import timedelta

from sqlalchemy import select

from helpdesk.auth.operations import create_agent
from helpdesk.db import db
from helpdesk.notifications.models import Notification
from helpdesk.sla.operations import set_team_lead
from helpdesk.sla.queries import ticket_clocks
from helpdesk.sla.tasks import run_escalation_sweep
from helpdesk.teams.operations import create_team
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.operations import update_ticket
from tests.conftest import PASSWORD
from tests.sla.conftest import open_vip_ticket

HOUR = timedelta(hours=1)


def notifications():
    return list(db.session.scalars(select(Notification).order_by(Notification.id)))


def test_warning_at_three_quarters_then_breach_levels_and_a_second_run_does_nothing(
        any_db_app, office_policy, clock, smtp_sink):
    agent = create_agent(email="owner@example.com", name="Owner", password=PASSWORD)
    lead = create_agent(email="lead@example.com", name="Lead", password=PASSWORD)
    team = create_team("VIP desk")
    set_team_lead(team.id, lead.id)
    ticket = open_vip_ticket()
    update_ticket(agent.as_actor(), ticket, assignee=agent, team=team)
    db.session.commit()
    smtp_sink.clear()

    clock.shift(90 * timedelta(minutes=1))  # 75% of the two-hour first reply target
    assert run_escalation_sweep() == 1
    db.session.commit()
    assert [(n.agent_id, n.kind) for n in notifications()] == [(agent.id, "sla-warning")]
    assert run_escalation_sweep() == 0

    clock.shift(HOUR)  # 11:30, half an hour late: level 1 only
    assert run_escalation_sweep() == 1
    db.session.commit()
    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket.id)
    assert "sla-breached" in ticket.tags and ticket.priority == "normal"
    clock.shift(HOUR)  # level 2: raise the priority, tell the team lead
    run_escalation_sweep()
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).priority == "high"
    # The raised priority shortens resolution to four hours: three have passed, so it warns.
    assert [(n.agent_id, n.kind, n.text.split(":")[1].split()[0]) for n in notifications()] == [
        (agent.id, "sla-warning", "first"), (agent.id, "sla-breach", "first"),
        (lead.id, "sla-breach", "first"), (agent.id, "sla-warning", "resolution")]
    assert run_escalation_sweep() == 0
    assert len(notifications()) == 4
    first = next(c for c in ticket_clocks(ticket.id) if c.kind == "first_reply")
    assert first.escalation_step == 3 and first.next_action_at is None
    assert any("owner@example.com" in received.rcpt_tos and "SLA warning" in
               received.message["Subject"] for received in smtp_sink.messages)


def test_a_paused_clock_is_never_swept(any_db_app, office_policy, clock):
    agent = create_agent(email="owner@example.com", name="Owner", password=PASSWORD)
    ticket = open_vip_ticket()
    update_ticket(agent.as_actor(), ticket, assignee=agent, status="on-hold")
    db.session.commit()
    resolution = next(c for c in ticket_clocks(ticket.id) if c.kind == "resolution")
    assert resolution.status == "paused" and resolution.next_action_at is None


def test_each_notification_is_mailed_once_however_often_the_mail_job_runs(
        any_db_app, agent, smtp_sink):
    from helpdesk.actors import SYSTEM
    from helpdesk.customers.operations import find_or_create_customer
    from helpdesk.notifications.operations import NewNotification, notify_agents
    from helpdesk.notifications.tasks import mail_notifications
    from helpdesk.tickets.operations import open_ticket

    ticket = open_ticket(SYSTEM, customer=find_or_create_customer("c@example.com", "C"),
                         subject="Hi", body_text="x", channel="web", acknowledge=False)
    db.session.commit()
    smtp_sink.clear()
    notify_agents([NewNotification(agent.id, ticket.id, "sla-warning", "SLA warning: soon"),
                   NewNotification(agent.id, None, "sla-warning", "No ticket to link")])
    db.session.commit()  # the job runs after this commit (eager jobs in tests)
    assert mail_notifications() == 0  # a second run finds nothing left to mail
    db.session.commit()
    assert all(n.mailed_at is not None for n in notifications())
    copies = [m for m in smtp_sink.wait_for(1) if "SLA warning: soon" in m.message["Subject"]]
    body = copies[0].message.get_body(("plain",))
    assert len(copies) == 1 and body is not None
    assert f"/console/tickets/{ticket.id}" in body.get_content()
