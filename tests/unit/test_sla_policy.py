"""Policy choice with its reasons, and clocks measured from a ticket's status ledger."""

from datetime import UTC, datetime, timedelta

import pytest

from helpdesk.sla.calendar import BusinessCalendar, parse_weekly_hours
from helpdesk.sla.policy import (
    Conditions,
    Policy,
    PolicyError,
    Segment,
    Target,
    TicketFacts,
    choose_policy,
    clock_timeline,
    escalation_steps,
    evaluate_clock,
    parse_conditions,
    parse_escalations,
    parse_targets,
    read_clock,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
HOUR = timedelta(hours=1)
OFFICE = BusinessCalendar("office", "UTC", parse_weekly_hours("mon-fri 09:00-17:00"))
FOUR_HOURS = Target(4 * HOUR)

VIP = Policy("VIP", Conditions(customer_tiers=frozenset({"VIP"}),
                               ticket_tags=frozenset({"outage"})))
GOLD = Policy("Gold plan", Conditions(custom_fields=(("plan", "gold"),)))
BILLING = Policy("Billing", Conditions(teams=frozenset({"Billing"}),
                                       organizations=frozenset({"Acme Corp"})))
STANDARD = Policy("Standard", targets={"normal": {"resolution": FOUR_HOURS}})


def facts(**kwargs):
    return TicketFacts(**{"priority": "normal", "channel": "email", **kwargs})


def test_first_matching_policy_applies_and_earlier_misses_are_explained():
    choice = choose_policy([VIP, GOLD, STANDARD], facts(customer_tier="VIP",
                                                        custom_fields={"plan": "gold"}))
    assert choice.policy is GOLD
    vip = choice.explanation()[0]
    assert vip["policy"] == "VIP" and not vip["matched"]
    assert {check["condition"]: check["passed"] for check in vip["checks"]} == {
        "customer_tier": True, "ticket_tags": False}


def test_crm_tier_and_ticket_tags_match_case_insensitively():
    choice = choose_policy([VIP, STANDARD], facts(customer_tier="vip",
                                                  ticket_tags=frozenset({"Outage"})))
    assert choice.policy is VIP


def test_team_and_organization_must_both_hold():
    assert choose_policy([BILLING], facts(team="Billing", organization="Acme Corp")).policy \
        is BILLING
    assert choose_policy([BILLING], facts(team="Billing", organization="Other")).policy is None


def test_no_policy_matches_without_a_catch_all():
    choice = choose_policy([VIP], facts())
    assert choice.policy is None and len(choice.verdicts) == 1


def test_waiting_on_the_customer_pauses_resolution_but_not_first_reply():
    segments = [Segment("open", T0, T0 + HOUR), Segment("waiting", T0 + HOUR, T0 + 3 * HOUR),
                Segment("open", T0 + 3 * HOUR)]
    now = T0 + 4 * HOUR
    resolution = evaluate_clock(STANDARD, "resolution", FOUR_HOURS, T0, None, segments, now)
    assert resolution.elapsed == 2 * HOUR
    assert resolution.due_at == T0 + 6 * HOUR and resolution.status == "running"
    first = evaluate_clock(STANDARD, "first_reply", FOUR_HOURS, T0, None, segments, now)
    assert first.elapsed == 4 * HOUR and first.due_at == T0 + 4 * HOUR


def test_paused_clock_has_no_due_instant_until_it_runs_again():
    segments = [Segment("open", T0, T0 + HOUR), Segment("hold", T0 + HOUR)]
    reading = evaluate_clock(STANDARD, "resolution", FOUR_HOURS, T0, None, segments,
                             T0 + 9 * HOUR)
    assert reading.status == "paused" and reading.due_at is None
    assert reading.elapsed == HOUR


def test_reopen_resumes_with_the_elapsed_time_kept():
    segments = [Segment("open", T0, T0 + HOUR), Segment("solved", T0 + HOUR, T0 + 5 * HOUR),
                Segment("open", T0 + 5 * HOUR)]
    reading = evaluate_clock(STANDARD, "resolution", FOUR_HOURS, T0, None, segments,
                             T0 + 6 * HOUR)
    assert reading.elapsed == 2 * HOUR and reading.due_at == T0 + 8 * HOUR


def test_a_shorter_target_moves_the_deadline_without_restarting_the_clock():
    segments = [Segment("open", T0)]
    now = T0 + 2 * HOUR
    before = evaluate_clock(STANDARD, "resolution", FOUR_HOURS, T0, None, segments, now)
    after = evaluate_clock(STANDARD, "resolution", Target(3 * HOUR), T0, None, segments, now)
    assert before.elapsed == after.elapsed == 2 * HOUR
    assert after.due_at == T0 + 3 * HOUR


def test_stopped_clock_is_met_or_breached_by_elapsed_time():
    segments = [Segment("open", T0)]
    met = evaluate_clock(STANDARD, "first_reply", FOUR_HOURS, T0, T0 + 3 * HOUR, segments,
                         T0 + 9 * HOUR)
    late = evaluate_clock(STANDARD, "first_reply", FOUR_HOURS, T0, T0 + 5 * HOUR, segments,
                          T0 + 9 * HOUR)
    assert (met.status, late.status) == ("met", "breached")
    assert late.due_at == T0 + 4 * HOUR


def test_business_hours_target_counts_only_open_time_and_timeline_shows_closed_hours():
    policy = Policy("office", calendar=OFFICE)
    start = T0 + 7 * HOUR  # Monday 16:00
    reading = evaluate_clock(policy, "first_reply", FOUR_HOURS, start, None,
                             [Segment("open", start)], start + 18 * HOUR)
    assert reading.due_at == T0 + 27 * HOUR  # Tuesday 12:00
    pieces = clock_timeline(policy, "first_reply", FOUR_HOURS, start, None,
                            [Segment("open", start)], start + 18 * HOUR)
    assert [piece.state for piece in pieces] == ["running", "closed", "running"]


def test_warning_and_breach_levels_come_in_order_after_the_due_instant():
    policy = Policy("p", warn_share=0.75, escalation_levels=parse_escalations([
        {"after_minutes": 0, "actions": [["notify", "assignee"]]},
        {"after_minutes": 120, "actions": [["raise_priority"], ["add_tag", "late"]]}]))
    reading = evaluate_clock(policy, "first_reply", FOUR_HOURS, T0, None,
                             [Segment("open", T0)], T0)
    steps = escalation_steps(policy, FOUR_HOURS, reading.warn_at, reading.due_at)
    assert [(step.number, step.at - T0) for step in steps] == [
        (1, 3 * HOUR), (2, 4 * HOUR), (3, 6 * HOUR)]
    assert steps[2].actions[1].value == "late"


@pytest.mark.parametrize(("parser", "document", "message"), [
    (parse_conditions, {"colour": ["red"]}, "unknown colour"),
    (parse_targets, {"urgent": {"first_reply": 0}}, "positive"),
    (parse_targets, {"urgent": {"lunch": 5}}, "unknown clock"),
    (parse_escalations, [{"actions": [["explode"]]}], "unknown action"),
    (parse_escalations, [{"actions": [["add_tag"]]}], "needs a value"),
])
def test_policy_documents_are_validated_with_a_message_naming_the_part(parser, document,
                                                                        message):
    with pytest.raises(PolicyError, match=message):
        parser(document)


def test_queue_reading_of_a_deadline():
    assert read_clock(T0, None, T0 - HOUR).state == "running"
    assert read_clock(T0, None, T0 + HOUR).overdue
    assert read_clock(T0, T0 - HOUR, T0 + HOUR).state == "met"
    assert read_clock(None, None, T0).state == "none"
