"""Time-based automations: remind, solve, close; stamped so a second run does nothing."""

from datetime import timedelta

from sqlalchemy import text

from helpdesk.actors import SYSTEM
from helpdesk.automation.timed import run_time_automations, save_automation
from helpdesk.db import db, utcnow
from helpdesk.tickets.operations import add_customer_message, update_ticket
from tests.automation.conftest import events, make_ticket

REMINDER = "Still there? Reply to {ticket}. — {helpdesk}"


def _automations():
    remind = save_automation(None, name="Remind", enabled=True, status="pending",
                             after_hours=72, action="remind", message=REMINDER)
    solve = save_automation(None, name="Auto-solve", enabled=True, status="pending",
                            after_hours=240, action="solve", message="Solved {ticket} for now.")
    close = save_automation(None, name="Close", enabled=True, status="solved",
                            after_hours=96, action="close", message="")
    db.session.commit()
    return remind, solve, close


def _pending_since(days):
    ticket = make_ticket()
    update_ticket(SYSTEM, ticket, status="pending")
    ticket.updated_at = utcnow() - timedelta(days=days)
    db.session.commit()
    return ticket


def test_a_ticket_pending_for_three_days_gets_one_reminder(any_db_app, smtp_sink):
    _automations()
    fresh, stale = _pending_since(1), _pending_since(4)
    assert run_time_automations() == 1
    db.session.commit()
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == ("erin@example.com",)
    body = mail.message.get_body(("plain",)).get_content()
    assert f"Reply to #{stale.id}." in body
    assert mail.message["Auto-Submitted"] == "auto-replied"
    assert [e.old_value for e in events(stale, "automation")] == ["Remind"]
    assert events(fresh, "automation") == []
    assert stale.status == "pending"


def test_running_the_sweep_twice_does_nothing_the_second_time(any_db_app, smtp_sink):
    _automations()
    _pending_since(4)
    assert run_time_automations() == 1
    db.session.commit()
    smtp_sink.wait_for(1)
    assert run_time_automations() == 0
    db.session.commit()
    assert len(smtp_sink.messages) == 1


def test_seven_days_after_the_reminder_the_ticket_is_solved_with_a_message(any_db_app,
                                                                            smtp_sink):
    _, _, close = _automations()
    close.enabled = False  # the clock jumps a week ahead; closing is tested on its own
    ticket = _pending_since(4)
    run_time_automations()
    db.session.commit()
    # Seven more days of silence (the reminder is not activity).
    assert run_time_automations(now=utcnow() + timedelta(days=7)) == 1
    db.session.commit()
    assert ticket.status == "solved"
    texts = [m.message.get_body(("plain",)).get_content() for m in smtp_sink.wait_for(2)]
    assert any(f"Solved #{ticket.id} for now." in body for body in texts)


def test_solved_tickets_are_closed_after_the_delay(any_db_app):
    _, _, _close = _automations()
    ticket = make_ticket()
    update_ticket(SYSTEM, ticket, status="solved")
    ticket.updated_at = utcnow() - timedelta(days=5)
    db.session.commit()
    run_time_automations()
    db.session.commit()
    assert ticket.status == "closed"


def test_a_customer_answer_starts_a_new_wait_with_a_new_reminder(any_db_app, smtp_sink):
    _automations()
    ticket = _pending_since(4)
    run_time_automations()
    add_customer_message(SYSTEM, ticket, body_text="Here is the log.", channel="email")
    update_ticket(SYSTEM, ticket, status="pending")
    db.session.commit()
    assert run_time_automations() == 0  # the new wait has only just begun
    assert run_time_automations(now=utcnow() + timedelta(days=3, minutes=1)) == 1
    db.session.commit()
    assert [e.old_value for e in events(ticket, "automation")] == ["Remind", "Remind"]


def test_disabled_automations_do_not_run(any_db_app):
    remind, solve, close = _automations()
    for automation in (remind, solve, close):
        automation.enabled = False
    _pending_since(30)
    assert run_time_automations() == 0


def test_the_sweep_query_uses_the_status_index_on_sqlite(app):
    from helpdesk.automation.timed import due_tickets

    remind, _, _ = _automations()
    statement = str(_compiled_due_query(due_tickets, remind))
    plan = " ".join(str(row) for row in db.session.execute(text("EXPLAIN QUERY PLAN " +
                                                                 statement)))
    assert "ix_ticket_status_updated" in plan
    assert "SCAN ticket" not in plan


def _compiled_due_query(due_tickets, automation):
    """The SQL of the sweep's query with its parameters inlined (for EXPLAIN)."""
    captured = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FROM ticket" in statement:
            captured.append((statement, parameters))

    from sqlalchemy import event

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        due_tickets(automation, utcnow())
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    statement, parameters = captured[0]
    for value in parameters:
        literal = f"'{value}'" if isinstance(value, str) else str(value)
        statement = statement.replace("?", literal, 1)
    return statement


def test_a_migrated_installation_has_the_default_automations(tmp_path, smtp_sink):
    from flask_migrate import upgrade

    from helpdesk.app import MIGRATIONS_DIR
    from helpdesk.automation.models import TimeAutomation
    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path / 'fresh.sqlite'}", tmp_path, smtp_sink)
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        rows = db.session.query(TimeAutomation).order_by(TimeAutomation.id).all()
        assert [(a.status, a.after_hours, a.action, a.enabled) for a in rows] == [
            ("pending", 72, "remind", True), ("pending", 240, "solve", True),
            ("solved", 96, "close", True)]
        assert "{ticket}" in rows[0].message
        db.engine.dispose()
