"""``flask crm import``."""

from pathlib import Path

from sqlalchemy import func, select

from helpdesk.customers.models import Customer
from helpdesk.db import db

EXAMPLES = Path(__file__).parents[2] / "crm_bridge" / "examples"


def test_import_prints_summary_and_each_invalid_row(app):
    result = app.test_cli_runner().invoke(args=[
        "crm", "import", str(EXAMPLES / "customers.csv"),
        "--mapping", str(EXAMPLES / "mapping.json"), "--source", "demo-crm"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "created 3, updated 0, unchanged 0, invalid 3"
    assert lines[1] == "  row 5: missing email (column 'Email' is empty)"
    assert lines[3].startswith("  row 7: tier: unknown value 'Platinum'")
    assert db.session.scalar(select(func.count(Customer.id))) == 3


def test_broken_mapping_file_is_an_error_and_imports_nothing(app, tmp_path):
    mapping = tmp_path / "mapping.json"
    mapping.write_text('{"fields": {"name": "Full name"}}')
    result = app.test_cli_runner().invoke(args=[
        "crm", "import", str(EXAMPLES / "customers.csv"), "--mapping", str(mapping)])
    assert result.exit_code == 1
    assert 'the mapping must say where "email" comes from' in result.output
    assert db.session.scalar(select(func.count(Customer.id))) == 0
