"""The per-agent open-ticket counter stays equal to a real count through every ticket write."""

from sqlalchemy import func, insert, select

from helpdesk.actors import SYSTEM
from helpdesk.automation.loads import recount_open_loads
from helpdesk.automation.models import AgentLoad
from helpdesk.db import db
from helpdesk.tickets.models import UNRESOLVED_STATUSES, Ticket
from helpdesk.tickets.operations import add_customer_message, update_ticket
from tests.automation.conftest import make_team, make_ticket


def counters() -> dict[int, int]:
    return {agent_id: count for agent_id, count in db.session.execute(
        select(AgentLoad.agent_id, AgentLoad.open_tickets)) if count}


def counted() -> dict[int, int]:
    return dict(db.session.execute(  # type: ignore[arg-type]
        select(Ticket.assignee_id, func.count())
        .where(Ticket.assignee_id.is_not(None), Ticket.status.in_(UNRESOLVED_STATUSES))
        .group_by(Ticket.assignee_id)).all())


def test_counter_follows_assign_reassign_solve_reopen_and_unassign(any_db_app):
    team, (ann, bo) = make_team("Support", ["Ann", "Bo"])
    first, second, third = (make_ticket(team=team) for _ in range(3))
    assert counters() == counted() == {ann.id: 2, bo.id: 1}
    update_ticket(SYSTEM, first, assignee=bo)
    db.session.commit()
    assert counters() == counted() == {ann.id: 1, bo.id: 2}
    update_ticket(SYSTEM, second, status="solved")
    db.session.commit()
    assert counters() == counted() == {ann.id: 1, bo.id: 1}
    db.session.expire_all()  # a reopen on a row reloaded after commit still counts it back
    add_customer_message(SYSTEM, db.session.get(Ticket, second.id), body_text="Again",
                         channel="web")
    db.session.commit()
    assert counters() == counted() == {ann.id: 1, bo.id: 2}
    update_ticket(SYSTEM, third, assignee=None)
    db.session.commit()
    assert counters() == counted() == {bo.id: 2}


def test_moving_between_unresolved_statuses_leaves_the_counter_alone(any_db_app):
    team, (ann,) = make_team("Support", ["Ann"])
    ticket = make_ticket(team=team)
    for status in ("open", "pending", "on-hold", "open"):
        update_ticket(SYSTEM, ticket, status=status)
        db.session.commit()
    assert counters() == counted() == {ann.id: 1}


def test_deleting_a_ticket_takes_it_off_the_counter(any_db_app):
    team, (ann,) = make_team("Support", ["Ann"])
    make_ticket(team=team)
    doomed = make_ticket(team=team)
    db.session.delete(doomed)
    db.session.commit()
    assert counters() == counted() == {ann.id: 1}


def test_a_rolled_back_assignment_leaves_the_counter_as_it_was(any_db_app):
    team, (ann, bo) = make_team("Support", ["Ann", "Bo"])
    ticket = make_ticket(team=team)
    update_ticket(SYSTEM, ticket, assignee=bo)
    db.session.flush()
    db.session.rollback()
    assert counters() == counted() == {ann.id: 1}


def test_recount_repairs_the_counter_after_a_bulk_load(any_db_app):
    team, (ann,) = make_team("Support", ["Ann"])
    customer_id = make_ticket(team=team).customer_id
    db.session.execute(insert(Ticket), [
        {"subject": f"Imported {i}", "status": "open", "priority": "normal", "channel": "email",
         "tags": [], "custom_fields": {}, "customer_id": customer_id, "assignee_id": ann.id}
        for i in range(3)])
    recount_open_loads()
    db.session.commit()
    assert counters() == counted() == {ann.id: 4}
