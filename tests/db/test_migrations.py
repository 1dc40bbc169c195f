"""The Alembic migrations build exactly the schema the models describe, on both engines."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from helpdesk.app import MIGRATIONS_DIR
from helpdesk.db import db
from tests.conftest import make_app


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrated.sqlite'}"
    return request.getfixturevalue("postgres").create_database()


def test_migrations_create_the_schema_of_the_models(empty_database_url, tmp_path, smtp_sink):
    app = make_app(empty_database_url, tmp_path, smtp_sink)
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
        assert differences == []
        downgrade(directory=MIGRATIONS_DIR, revision="base")
        db.engine.dispose()


def test_a_migrated_installation_has_a_policy_for_every_priority(tmp_path, smtp_sink):
    from helpdesk.demo import DEFAULT_POLICIES
    from helpdesk.sla.policy import TicketFacts, choose_policy
    from helpdesk.sla.queries import active_policies
    from helpdesk.tickets.models import PRIORITIES

    app = make_app(f"sqlite:///{tmp_path / 'fresh.sqlite'}", tmp_path, smtp_sink)
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        policies = active_policies()
        chosen = {priority: choose_policy(policies, TicketFacts(priority, "email")).policy
                  for priority in PRIORITIES}
        assert all(policy is not None for policy in chosen.values())
        assert {(priority, policy.target(priority, "first_reply").duration.total_seconds() / 60,
                 policy.target(priority, "resolution").duration.total_seconds() / 60)
                for priority, policy in chosen.items()} == {
            (priority, first, resolution) for priority, _, first, resolution in DEFAULT_POLICIES}
        db.engine.dispose()


def test_upgrade_keeps_edited_targets_and_the_deadlines_of_existing_tickets(
        empty_database_url, tmp_path, smtp_sink):
    """An installation upgraded from per-priority policy rows keeps its own targets, and its
    open tickets keep their deadlines on clocks under the migrated policy."""
    from sqlalchemy import text

    from helpdesk.sla.queries import active_policies, ticket_clocks

    app = make_app(empty_database_url, tmp_path, smtp_sink)
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR, revision="c302e0a1b002")
        with db.engine.begin() as connection:
            connection.execute(text(
                "UPDATE sla_policy SET first_reply_minutes = 30 WHERE priority = 'urgent'"))
            connection.execute(text(
                "INSERT INTO customer (email, name, tags, extra, created_at) "
                "VALUES ('c@example.com', 'C', '[]', '{}', '2026-03-02 09:00:00')"))
            connection.execute(text(
                "INSERT INTO ticket (subject, status, priority, channel, tags, custom_fields, "
                "customer_id, created_at, updated_at, sla_policy_name, first_reply_due, "
                "resolution_due) SELECT 'Old', 'pending', 'urgent', 'email', '[]', '{}', id, "
                "'2026-03-02 09:00:00', '2026-03-02 09:00:00', 'Urgent', "
                "'2026-03-02 09:30:00', '2026-03-02 17:00:00' FROM customer"))
        upgrade(directory=MIGRATIONS_DIR)
        [policy] = active_policies()
        assert policy.target("urgent", "first_reply").duration.total_seconds() == 30 * 60
        ticket_id = db.session.scalar(text("SELECT id FROM ticket"))
        clocks = {clock.kind: clock for clock in ticket_clocks(ticket_id)}
        assert clocks["first_reply"].due_at.strftime("%H:%M") == "09:30"
        assert clocks["resolution"].status == "running"
        db.session.remove()
        downgrade(directory=MIGRATIONS_DIR, revision="base")
        db.engine.dispose()
