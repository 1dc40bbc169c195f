"""Routing rules (pure): conditions in English and Chinese, order, stop, explanations."""

from datetime import UTC, datetime

import pytest

from helpdesk.tickets.routing import (
    Rule,
    RuleSyntaxError,
    TicketFacts,
    evaluate,
    parse_action,
    parse_condition,
)

MONDAY_10_SHANGHAI = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SATURDAY = datetime(2026, 3, 7, 2, 0, tzinfo=UTC)


def facts(**overrides):
    values = dict(channel="email", origin="support@example.com",
                  sender_email="grace@mail.acme.com", subject="Invoice problem",
                  body="Please refund me", priority="normal", team="", tier="VIP",
                  company="Acme Corp", customer_tags=("enterprise",), ticket_tags=(),
                  now=MONDAY_10_SHANGHAI)
    values.update(overrides)
    return TicketFacts(**values)


def rule(name, conditions, actions, events=("created",), rule_id=1):
    return Rule(id=rule_id, name=name, events=frozenset(events),
                conditions=tuple(map(parse_condition, conditions)),
                actions=tuple(map(parse_action, actions)))


def names(matches):
    return [match.rule.name for match in matches]


@pytest.mark.parametrize(("condition", "overrides", "matched"), [
    ("channel email", {}, True),
    ("channel web", {}, False),
    ("origin SUPPORT@example.com", {}, True),
    ("sender_domain acme.com", {}, True),          # subdomains belong to the domain
    ("sender_domain cme.com", {}, False),          # but not look-alike suffixes
    ("keyword REFUND", {}, True),                  # Latin ignores case
    ("keyword 退款", {"body": "你好，我想申请退款。"}, True),  # no word boundaries in Chinese
    ("keyword 退款", {"body": "你好，我想申请退货。"}, False),
    ("keyword refund", {"body": "ＲＥＦＵＮＤ please"}, True),  # full-width letters
    ("subject_keyword refund", {}, False),         # only in the body
    ("subject_keyword 发票", {"subject": "发票抬头需要修改"}, True),
    ("tier vip", {}, True),
    ("tier not VIP", {}, False),
    ("customer_tag Enterprise, renewal", {}, True),
    ("company acme corp", {}, True),
    ("ticket_tag refund", {"ticket_tags": ("billing",)}, False),
    ("priority high, urgent", {"priority": "urgent"}, True),
    ("calendar China support", {"open_calendars": ("china support",)}, True),
    ("calendar China support", {"open_calendars": ("US support",)}, False),
    ("calendar not China support", {}, True),
    ("business_hours Asia/Shanghai; mon-fri 09:00-18:00", {}, True),
    ("business_hours Asia/Shanghai; mon-fri 09:00-18:00", {"now": SATURDAY}, False),
    ("business_hours not Asia/Shanghai; mon-fri 09:00-18:00", {"now": SATURDAY}, True),
])
def test_each_condition_matches_what_it_says(condition, overrides, matched):
    matches = evaluate([rule("r", [condition], ["add_tags x"])], facts(**overrides), "created")
    assert bool(matches) is matched


def test_all_conditions_of_a_rule_must_hold():
    both = rule("both", ["channel email", "keyword 退款"], ["team Billing"])
    assert evaluate([both], facts(), "created") == []
    assert names(evaluate([both], facts(body="申请退款"), "created")) == ["both"]


def test_rules_run_only_on_their_events():
    on_update = rule("on update", ["channel email"], ["add_tags x"], events=("updated",))
    assert evaluate([on_update], facts(), "created") == []
    assert names(evaluate([on_update], facts(), "updated")) == ["on update"]


def test_later_rules_see_what_earlier_rules_changed():
    raise_vip = rule("VIP first", ["tier VIP"], ["priority urgent"], rule_id=1)
    tag_urgent = rule("Tag urgent", ["priority urgent"], ["add_tags hot"], rule_id=2)
    assert names(evaluate([raise_vip, tag_urgent], facts(), "created")) == [
        "VIP first", "Tag urgent"]


def test_a_rule_whose_action_would_match_it_again_runs_once():
    loop = rule("adds its own tag", ["channel email"], ["add_tags seen"])
    assert names(evaluate([loop, loop], facts(), "created")) == [
        "adds its own tag", "adds its own tag"]  # two rows, once each
    assert len(evaluate([loop], facts(), "created")) == 1


def test_stop_ends_processing():
    first = rule("first", ["channel email"], ["team Billing", "stop"], rule_id=1)
    second = rule("second", ["channel email"], ["team Support"], rule_id=2)
    assert names(evaluate([first, second], facts(), "created")) == ["first"]


def test_the_explanation_names_the_conditions_that_matched_and_the_actions():
    matches = evaluate([rule("Refunds", ["keyword 退款, refund", "tier VIP"],
                             ["team Billing", "priority high"])],
                       facts(body="申请退款"), "created")
    assert matches[0].explanation == (
        "matched: message contains '退款'; tier is VIP → team Billing, priority high")


@pytest.mark.parametrize("line", [
    "colour red", "channel", "priority critical", "business_hours Mars/Base; mon 09:00-10:00"])
def test_unreadable_conditions_are_refused(line):
    with pytest.raises(RuleSyntaxError):
        parse_condition(line)


@pytest.mark.parametrize("line", ["explode now", "team", "priority soon"])
def test_unreadable_actions_are_refused(line):
    with pytest.raises(RuleSyntaxError):
        parse_action(line)


def test_values_may_be_separated_by_chinese_commas():
    assert parse_condition("keyword 退款，发票").values == ("退款", "发票")
