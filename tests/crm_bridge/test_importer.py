"""Importing CRM exports into customer profiles, on SQLite and PostgreSQL."""

from pathlib import Path

from sqlalchemy import func, select

from crm_bridge.importer import import_profiles
from crm_bridge.mapping import load_mapping, parse_mapping
from crm_bridge.models import CrmReviewItem
from helpdesk.customers.models import Customer
from helpdesk.customers.operations import find_or_create_customer
from helpdesk.db import db

EXAMPLES = Path(__file__).parents[2] / "crm_bridge" / "examples"
MAPPING = parse_mapping({"fields": {
    "email": "Email", "name": "Name", "phone": "Phone",
    "tier": {"from": "Level", "map": {"A": "VIP", "B": "Standard"}, "strict": True},
    "tags": {"from": "Tags", "transforms": ["split:,"]},
}})


def _csv(tmp_path, *rows, name="export.csv"):
    path = tmp_path / name
    path.write_text("Email,Name,Phone,Level,Tags\n" + "".join(row + "\n" for row in rows),
                    encoding="utf-8")
    return path


def _customer(email):
    return db.session.scalar(select(Customer).where(Customer.email == email))


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_new_customer_is_created_with_the_mapped_profile(any_db_app, tmp_path):
    summary = import_profiles(_csv(tmp_path, "ada@example.com,Ada,+1 555,A,\"vip, renewal\""),
                              MAPPING, "test-crm")
    assert (summary.created, summary.updated, summary.invalid) == (1, 0, 0)
    ada = _customer("ada@example.com")
    assert (ada.name, ada.phone, ada.tier, ada.tags, ada.profile_source) == (
        "Ada", "+1 555", "VIP", ["vip", "renewal"], "test-crm")


def test_existing_customer_is_matched_by_email_ignoring_case(any_db_app, tmp_path):
    find_or_create_customer("alice.moreau@example.com", "Alice")
    db.session.commit()
    summary = import_profiles(_csv(tmp_path, "Alice.Moreau@EXAMPLE.com,Alice Moreau,,A,"),
                              MAPPING, "test-crm")
    assert (summary.created, summary.updated) == (0, 1)
    assert _count(Customer) == 1
    assert _customer("alice.moreau@example.com").tier == "VIP"


def test_invalid_rows_are_listed_for_review_and_change_no_customer(any_db_app, tmp_path):
    find_or_create_customer("bob@example.com", "Bob")
    db.session.commit()
    summary = import_profiles(_csv(tmp_path, ",No Email,,A,", "bob@example.com,Robert,,Z,",
                                   "ok@example.com,Ok,,B,"), MAPPING, "test-crm")
    assert [(row.row_number, row.reason.split(" (")[0]) for row in summary.invalid_rows] == [
        (2, "missing email"), (3, "tier: unknown value 'Z'")]
    # Bob's row named a new name too; a row is applied whole or not at all.
    assert (_customer("bob@example.com").name, _customer("bob@example.com").tier) == ("Bob", None)
    items = db.session.scalars(select(CrmReviewItem).order_by(CrmReviewItem.row_number)).all()
    assert [(item.source, item.row_number) for item in items] == [("test-crm", 2),
                                                                  ("test-crm", 3)]
    assert items[1].raw_record["Name"] == "Robert" and items[1].resolved_at is None
    assert summary.created == 1


def test_reimporting_the_same_file_changes_nothing_and_lists_nothing_twice(any_db_app, tmp_path):
    path = _csv(tmp_path, "ada@example.com,Ada,,A,x", "bad-email,Bad,,A,")
    import_profiles(path, MAPPING, "test-crm")
    again = import_profiles(path, MAPPING, "test-crm")
    assert (again.created, again.updated, again.unchanged, again.invalid) == (0, 0, 1, 1)
    assert _count(CrmReviewItem) == 1


def test_second_row_for_the_same_email_is_not_applied(any_db_app, tmp_path):
    summary = import_profiles(_csv(tmp_path, "ada@example.com,Ada,,A,", "ADA@example.com,Eve,,B,"),
                              MAPPING, "test-crm")
    assert summary.invalid_rows[0].reason.startswith("email ada@example.com is also on row 2")
    assert _customer("ada@example.com").name == "Ada"


def test_value_longer_than_its_column_is_invalid_not_a_crash(any_db_app, tmp_path):
    summary = import_profiles(_csv(tmp_path, f"ada@example.com,Ada,{'1' * 41},A,"), MAPPING,
                              "test-crm")
    assert summary.invalid_rows[0].reason == "phone is longer than 40 characters"
    assert _count(Customer) == 0


def test_small_batches_commit_every_row_once(any_db_app, tmp_path):
    rows = [f"c{n}@example.com,C{n},,A," for n in range(5)]
    summary = import_profiles(_csv(tmp_path, *rows), MAPPING, "test-crm", batch_size=2)
    db.session.rollback()  # nothing left uncommitted to lose
    assert summary.created == 5 and _count(Customer) == 5


def test_gbk_export_from_a_chinese_crm_is_imported_with_its_value_map(any_db_app):
    summary = import_profiles(EXAMPLES / "customers_gbk.csv",
                              load_mapping(EXAMPLES / "mapping_zh.json"), "销售易")
    assert (summary.created, summary.invalid) == (3, 2)
    zhang = _customer("zhang.wei@example.cn")
    assert (zhang.name, zhang.company, zhang.tier, zhang.owner, zhang.tags, zhang.external_id) == (
        "张伟", "北京星辰科技有限公司", "VIP", "李娜", ["重要", "续约"], "KH0001")
    assert "D类客户" in summary.invalid_rows[1].reason


def test_json_export_is_imported(any_db_app, tmp_path):
    path = tmp_path / "export.json"
    path.write_text('{"records": [{"contact": {"email": "a@example.com"}, "level": "A"}, 42]}')
    mapping = parse_mapping({"fields": {"email": "contact.email",
                                        "tier": {"from": "level", "map": {"A": "VIP"}}}})
    summary = import_profiles(path, mapping, "api-dump")
    assert (summary.created, summary.invalid) == (1, 1)
    assert _customer("a@example.com").tier == "VIP"
