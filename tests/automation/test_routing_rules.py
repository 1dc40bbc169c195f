"""Routing rules applied to real tickets, on SQLite and PostgreSQL."""

from datetime import timedelta

from helpdesk.actors import SYSTEM
from helpdesk.automation.models import RoutingRule
from helpdesk.customers.operations import upsert_profile
from helpdesk.db import db
from helpdesk.tickets.operations import add_customer_message, update_ticket
from helpdesk.tickets.queries import ticket_history
from tests.automation.conftest import events, make_rule, make_team, make_ticket


def test_a_matching_rule_sets_team_priority_and_tags_when_the_ticket_is_created(billing):
    make_rule("Refunds to billing", ["keyword refund, 退款"],
              ["team Billing", "priority high", "add_tags refund"])
    ticket = make_ticket(subject="申请退款", body="订单 123 请退款")
    assert (ticket.team.name, ticket.priority, ticket.tags) == ("Billing", "high", ["refund"])


def test_the_history_names_the_rule_and_the_conditions_that_matched(billing):
    make_rule("Refunds to billing", ["keyword 退款", "channel web"], ["team Billing"])
    ticket = make_ticket(subject="申请退款")
    [event] = events(ticket, "routing")
    assert event.old_value == "Refunds to billing"
    assert event.new_value == "matched: subject contains '退款'; channel is web → team Billing"


def test_routing_runs_before_the_sla_policy_is_chosen(billing):
    make_rule("Urgent outages", ["subject_keyword outage"], ["priority urgent"])
    ticket = make_ticket(subject="Total outage")
    history = [event.kind for event in ticket_history(ticket)]
    assert history.index("routing") < history.index("sla")
    # The urgent first-reply target (one hour), not the normal one (eight hours).
    assert ticket.first_reply_due <= ticket.created_at + timedelta(hours=1, minutes=1)


def test_crm_tier_and_customer_tags_are_conditions(billing):
    upsert_profile("grace@acme.example", {"name": "Grace", "tier": "VIP",
                                          "tags": ["enterprise"]}, source="test")
    db.session.commit()
    make_rule("VIPs", ["tier vip", "customer_tag enterprise"], ["priority urgent"])
    vip = make_ticket(email="grace@acme.example")
    other = make_ticket(email="bob@example.org")
    assert (vip.priority, other.priority) == ("urgent", "normal")


def test_a_customer_message_runs_the_rules_for_updates(billing):
    make_rule("Cancellation", ["keyword 取消订阅, cancel"], ["add_tags churn-risk"],
              on_created=False, on_updated=True)
    ticket = make_ticket(subject="Question")
    assert ticket.tags == []
    add_customer_message(SYSTEM, ticket, body_text="我想取消订阅", channel="email")
    db.session.commit()
    assert ticket.tags == ["churn-risk"]


def test_a_rule_changing_the_ticket_does_not_trigger_itself_again(billing):
    make_rule("Escalate on update", ["priority high"], ["priority urgent", "add_tags escalated"],
              on_created=False, on_updated=True)
    make_rule("Back to high", ["priority urgent"], ["add_tags seen-urgent"],
              on_created=False, on_updated=True)
    ticket = make_ticket()
    update_ticket(SYSTEM, ticket, priority="high")
    db.session.commit()
    assert ticket.priority == "urgent"
    assert ticket.tags == ["escalated", "seen-urgent"]
    assert [event.old_value for event in events(ticket, "routing")] == [
        "Escalate on update", "Back to high"]


def test_a_rule_whose_actions_change_nothing_leaves_no_history(billing):
    make_rule("Tag web", ["channel web"], ["add_tags web"], on_updated=True)
    ticket = make_ticket()
    update_ticket(SYSTEM, ticket, status="open")
    db.session.commit()
    assert len(events(ticket, "routing")) == 1


def test_disabled_rules_and_rules_after_stop_do_not_apply(billing):
    make_rule("Off", ["channel web"], ["priority low"], enabled=False)
    make_rule("First", ["channel web"], ["add_tags first", "stop"])
    make_rule("Never", ["channel web"], ["add_tags never"])
    ticket = make_ticket()
    assert (ticket.priority, ticket.tags) == ("normal", ["first"])


def test_a_routing_priority_change_on_update_recomputes_the_sla(billing):
    make_rule("Urgent on reply", ["keyword down again"], ["priority urgent"],
              on_created=False, on_updated=True)
    ticket = make_ticket()
    add_customer_message(SYSTEM, ticket, body_text="It is down again!", channel="web")
    db.session.commit()
    assert ticket.priority == "urgent"
    assert ticket.first_reply_due <= ticket.created_at + timedelta(hours=1, minutes=1)


def test_assign_action_names_an_agent(any_db_app):
    _team, (li,) = make_team("Support", ["Li"], auto_assign=False)
    make_rule("Li takes printers", ["keyword printer"], ["team Support", "assign li@example.com"])
    assert make_ticket().assignee_id == li.id


def test_rules_keep_their_order(billing):
    for name in ("a", "b", "c"):
        make_rule(name, [], ["add_tags " + name])
    assert [rule.position for rule in db.session.query(RoutingRule).order_by(RoutingRule.id)
            ] == [1, 2, 3]
    assert make_ticket().tags == ["a", "b", "c"]


def test_the_calendar_condition_reads_the_business_calendars(billing):
    from helpdesk.sla.models import SlaCalendar

    db.session.add_all([
        SlaCalendar(name="Always", timezone="Asia/Shanghai", weekly_hours=[[[0, 1440]]] * 7,
                    closed_dates=[], extra_working_days=[]),
        SlaCalendar(name="Never", timezone="UTC", weekly_hours=[[]] * 7, closed_dates=[],
                    extra_working_days=[]),
    ])
    db.session.commit()
    make_rule("Open hours", ["calendar Always"], ["add_tags open-hours"])
    make_rule("After hours", ["calendar not Never"], ["add_tags after-hours"])
    make_rule("Closed", ["calendar Never"], ["add_tags never"])
    ticket = make_ticket()
    assert ticket.tags == ["open-hours", "after-hours"]
    assert events(ticket, "routing")[1].new_value == (
        "matched: not: calendar Never is closed → add_tags after-hours")
