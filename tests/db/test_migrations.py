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
    from helpdesk.sla.queries import policy_targets
    from helpdesk.tickets.models import PRIORITIES

    app = make_app(f"sqlite:///{tmp_path / 'fresh.sqlite'}", tmp_path, smtp_sink)
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        targets = {policy.priority: policy for policy in policy_targets()}
        assert set(targets) == set(PRIORITIES)
        assert {(p, t.first_reply.total_seconds() / 60) for p, t in targets.items()} == {
            (priority, first) for priority, _, first, _ in DEFAULT_POLICIES}
        db.engine.dispose()
