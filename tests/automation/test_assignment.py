"""Automatic assignment on real databases: turns, load, capacity, availability, pick-up."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from helpdesk.actors import SYSTEM
from helpdesk.auth.operations import set_agent_availability, set_agent_status
from helpdesk.automation.assignment import assign_by_strategy
from helpdesk.db import db
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.operations import update_ticket
from tests.automation.conftest import events, make_rule, make_team, make_ticket


def test_round_robin_hands_tickets_out_in_turn(any_db_app):
    team, agents = make_team("Support", ["Ann", "Bo", "Cy"])
    assignees = [make_ticket(team=team).assignee_id for _ in range(6)]
    assert assignees == [agent.id for agent in agents] * 2


def test_the_decision_is_explained_on_the_ticket(any_db_app):
    team, _ = make_team("Support", ["Ann", "Bo"])
    ticket = make_ticket(team=team)
    [event] = events(ticket, "assignment")
    assert event.new_value == "round_robin: Ann, next in turn; 2 of 2 agents available"


def test_least_loaded_counts_open_tickets_in_the_database(any_db_app):
    team, (ann, bo) = make_team("Support", ["Ann", "Bo"], strategy="least_loaded",
                                auto_assign=False)
    for _ in range(2):
        ticket = make_ticket(team=team)
        update_ticket(SYSTEM, ticket, assignee=ann)
    solved = make_ticket(team=team)
    update_ticket(SYSTEM, solved, assignee=bo, status="solved")  # solved work is not load
    db.session.commit()
    assert assign_by_strategy(make_ticket(team=team)).agent_id == bo.id


def test_agents_at_capacity_get_nothing_more(any_db_app):
    team, (ann, bo) = make_team("Support", ["Ann", "Bo"])
    set_agent_availability(ann, capacity=1, skills=[], languages=[], shift="")
    set_agent_availability(bo, capacity=1, skills=[], languages=[], shift="")
    db.session.commit()
    first, second, third = (make_ticket(team=team) for _ in range(3))
    assert {first.assignee_id, second.assignee_id} == {ann.id, bo.id}
    assert third.assignee_id is None
    assert "2 at capacity" in events(third, "assignment")[0].new_value


def test_away_offline_and_off_shift_agents_are_skipped(any_db_app):
    team, (ann, bo, cy, di) = make_team("Support", ["Ann", "Bo", "Cy", "Di"])
    set_agent_status(ann, "away")
    set_agent_status(bo, "offline")
    # Di's shift is a day that is never today: the day before yesterday (UTC) only.
    set_agent_availability(di, capacity=20, skills=[], languages=[],
                           shift=_shift_not_today())
    db.session.commit()
    assert {make_ticket(team=team).assignee_id for _ in range(3)} == {cy.id}


def _shift_not_today():
    from helpdesk.auth.schedule import DAYS
    from helpdesk.db import utcnow

    return f"UTC; {DAYS[(utcnow().weekday() + 3) % 7]} 00:00-01:00"


def test_skills_match_the_ticket_language_and_tags(any_db_app):
    team, (ann, bo) = make_team("Support", ["Ann", "Bo"], strategy="skills")
    set_agent_availability(ann, capacity=20, skills=["billing"], languages=["en"], shift="")
    set_agent_availability(bo, capacity=20, skills=["billing"], languages=["zh", "en"],
                           shift="")
    db.session.commit()
    ticket = make_ticket(subject="发票抬头需要修改", body="请帮忙修改", team=team, tags=["billing"])
    assert ticket.assignee_id == bo.id


def test_with_nobody_online_the_ticket_waits_and_is_picked_up_when_an_agent_comes_online(
        any_db_app):
    team, (ann,) = make_team("Support", ["Ann"], status="offline")
    waiting = make_ticket(team=team)
    assert waiting.assignee_id is None
    set_agent_status(ann, "online")
    db.session.commit()  # the pick-up job runs after commit
    db.session.expire_all()
    assert db.session.get(Ticket, waiting.id).assignee_id == ann.id


def test_assign_by_strategy_action_assigns_in_a_team_that_does_not_auto_assign(any_db_app):
    _team, (ann,) = make_team("Support", ["Ann"], auto_assign=False)
    make_rule("Route and assign", ["channel web"], ["team Support", "assign strategy"])
    assert make_ticket().assignee_id == ann.id
    assert make_ticket(channel="email").assignee_id is None


@pytest.mark.parametrize("any_db_app", ["postgresql"], indirect=True)
def test_concurrent_assignments_take_turns_on_postgresql(any_db_app):
    """Twelve tickets assigned at once from four threads: every agent gets exactly three."""
    team, agents = make_team("Support", ["Ann", "Bo", "Cy", "Di"], auto_assign=False)
    ticket_ids = [make_ticket(team=team).id for _ in range(12)]

    def assign(ticket_id):
        with any_db_app.app_context():
            decision = assign_by_strategy(db.session.get(Ticket, ticket_id))
            db.session.commit()
            return decision.agent_id

    with ThreadPoolExecutor(max_workers=4) as pool:
        chosen = list(pool.map(assign, ticket_ids))
    assert sorted(chosen.count(agent.id) for agent in agents) == [3, 3, 3, 3]


def test_a_ticket_moved_into_an_auto_assigning_team_is_assigned(any_db_app):
    team, (ann,) = make_team("Support", ["Ann"])
    ticket = make_ticket()
    update_ticket(SYSTEM, ticket, team=team)
    db.session.commit()
    assert ticket.assignee_id == ann.id


def test_a_ticket_an_agent_unassigns_stays_unassigned(any_db_app):
    team, (ann,) = make_team("Support", ["Ann"])
    ticket = make_ticket(team=team)
    assert ticket.assignee_id == ann.id
    update_ticket(ann.as_actor(), ticket, assignee=None)
    db.session.commit()
    assert ticket.assignee_id is None
