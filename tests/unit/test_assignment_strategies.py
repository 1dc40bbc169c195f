"""Assignment strategies (pure): availability, turns, load, capacity and skills."""

import pytest

from helpdesk.automation.strategies import Candidate, choose_agent, ticket_language


def agent(agent_id, *, status="online", on_shift=True, load=0, capacity=10, skills=()):
    return Candidate(agent_id=agent_id, name=f"agent{agent_id}", status=status,
                     on_shift=on_shift, load=load, capacity=capacity, skills=frozenset(skills))


def pick(strategy, candidates, needs=(), last=None):
    return choose_agent(strategy, candidates, needs=frozenset(needs), last_agent_id=last)


def test_round_robin_takes_the_next_agent_after_the_last_one_and_wraps():
    team = [agent(3), agent(1), agent(2)]
    assert pick("round_robin", team).agent_id == 1
    assert pick("round_robin", team, last=1).agent_id == 2
    assert pick("round_robin", team, last=3).agent_id == 1


def test_round_robin_skips_agents_who_left_the_rotation():
    assert pick("round_robin", [agent(1), agent(5)], last=3).agent_id == 5


@pytest.mark.parametrize("unavailable", [
    {"status": "away"}, {"status": "offline"}, {"on_shift": False}, {"load": 10, "capacity": 10},
])
def test_unavailable_agents_are_never_chosen(unavailable):
    decision = pick("round_robin", [agent(1, **unavailable), agent(2)])
    assert decision.agent_id == 2


def test_with_nobody_available_the_ticket_stays_unassigned_and_the_reason_says_why():
    decision = pick("least_loaded", [agent(1, status="away"), agent(2, on_shift=False),
                                     agent(3, load=2, capacity=2)])
    assert decision.agent_id is None
    assert decision.reason == ("least_loaded: nobody available, 0 of 3 agents available "
                               "(1 at capacity, 1 away, 1 off shift); left in the team queue")


def test_no_capacity_means_no_limit():
    assert pick("round_robin", [agent(1, load=500, capacity=None)]).agent_id == 1


def test_least_loaded_takes_the_agent_with_fewest_open_tickets():
    assert pick("least_loaded", [agent(1, load=4), agent(2, load=1), agent(3, load=2)]
                ).agent_id == 2


def test_least_loaded_breaks_ties_in_turn_order():
    team = [agent(1, load=1), agent(2, load=1), agent(3, load=1)]
    assert pick("least_loaded", team, last=1).agent_id == 2


def test_skills_prefers_the_agent_covering_most_needs():
    team = [agent(1, skills={"en"}), agent(2, skills={"zh", "billing"}, load=5),
            agent(3, skills={"zh"})]
    decision = pick("skills", team, needs={"zh", "billing"})
    assert decision.agent_id == 2
    assert "skills billing, zh (2 of 2 needed)" in decision.reason


def test_skills_without_any_match_falls_back_to_least_loaded():
    team = [agent(1, skills={"en"}, load=3), agent(2, skills={"de"}, load=1)]
    assert pick("skills", team, needs={"ja"}).agent_id == 2


def test_ticket_language_is_chinese_when_it_has_han_characters():
    assert ticket_language("发票抬头 invoice") == "zh"
    assert ticket_language("Invoice header") == "en"
