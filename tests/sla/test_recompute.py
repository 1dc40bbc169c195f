"""Re-measuring open tickets after an admin saves a policy or a calendar: the tickets the
change concerns get new deadlines from their ledger, the others keep their clocks."""

from datetime import timedelta

from helpdesk.db import db
from helpdesk.sla.models import SlaCalendar, SlaPolicy
from helpdesk.sla.operations import save_calendar, save_policy
from helpdesk.sla.queries import ticket_clocks, ticket_sla
from helpdesk.sla.tasks import recompute_open_tickets
from tests.sla.conftest import MONDAY_9, open_vip_ticket

HOUR = timedelta(hours=1)


def first_reply(ticket):
    return next(clock for clock in ticket_clocks(ticket.id) if clock.kind == "first_reply")


def resave(policy, **changes):
    values = {"name": policy.name, "position": policy.position,
              "calendar_id": policy.calendar_id, "conditions": policy.conditions,
              "targets": policy.targets, "pauses": policy.pauses,
              "warn_share": policy.warn_share, "escalations": policy.escalations, **changes}
    save_policy(policy, **values)
    db.session.commit()  # the re-measuring job runs after the commit


def test_a_policy_the_ticket_does_not_run_under_leaves_its_clocks_alone(
        any_db_app, office_policy, clock):
    clock.shift(1)  # the ticket is measured after the policy was saved (time is frozen)
    ticket = open_vip_ticket()
    measured = first_reply(ticket)
    before = (measured.due_at, measured.warn_at, measured.elapsed_seconds)
    clock.shift(HOUR)
    save_policy(None, name="Billing", position=-1, conditions={"team": ["Billing"]},
                targets={"normal": {"first_reply": {"minutes": 30}}})
    db.session.commit()
    db.session.expire_all()
    measured = first_reply(ticket)
    assert (measured.due_at, measured.warn_at, measured.elapsed_seconds) == before
    # The explanation still gains the new policy's verdict, tried first.
    assert [(v["policy"], v["matched"]) for v in ticket_sla(ticket.id).explanation][:2] == [
        ("Billing", False), ("VIP office hours", True)]
    assert recompute_open_tickets() == 0


def test_changing_the_tickets_policy_re_measures_it_from_the_ledger(
        any_db_app, office_policy, clock):
    ticket = open_vip_ticket()
    clock.shift(HOUR)
    targets = {**office_policy.targets, "normal": {**office_policy.targets["normal"],
                                                   "first_reply": {"minutes": 180}}}
    resave(office_policy, targets=targets)
    db.session.expire_all()
    measured = first_reply(ticket)
    assert (measured.target_minutes, measured.elapsed_seconds) == (180, 3600)
    assert measured.due_at == MONDAY_9 + 3 * HOUR  # 09:00 + 3 h, before lunch


def test_saving_the_calendar_re_measures_tickets_on_its_policies(any_db_app, office_policy,
                                                                  clock):
    ticket = open_vip_ticket()  # Monday 09:00, two business hours: due 11:00
    assert first_reply(ticket).due_at == MONDAY_9 + 2 * HOUR
    calendar = db.session.get(SlaCalendar, db.session.get(SlaPolicy, office_policy.id)
                              .calendar_id)
    # Today becomes a closed day: the two hours run on Tuesday from 09:00.
    clock.shift(1)  # a new updated_at: built calendars are cached by it
    save_calendar(calendar, name=calendar.name, timezone=calendar.timezone,
                  weekly_hours=calendar.weekly_hours, holiday_country="CN",
                  holiday_subdivision=None, closed_dates=["2026-03-02"], extra_working_days=[])
    db.session.commit()
    db.session.expire_all()
    assert first_reply(ticket).due_at == MONDAY_9 + 24 * HOUR + 2 * HOUR
