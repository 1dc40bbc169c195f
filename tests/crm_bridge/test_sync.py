"""The sync loop against a generic REST source served over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select

from crm_bridge.models import CrmReviewItem, CrmSource, CrmSyncRun
from crm_bridge.sync import run_sync, stored_watermark, sync_source
from helpdesk.actors import Actor
from helpdesk.customers.models import Customer, CustomerIdentity, Organization, ProfileConflict
from helpdesk.customers.operations import edit_profile, find_or_create_customer
from helpdesk.db import db
from tests.crm_bridge.conftest import make_source
from tests.crm_bridge.rest_stub import at

AGENT = Actor(kind="agent", id=1, name="Li Wei")


def _sync(source_id, **options):
    final = None
    for totals in run_sync(source_id, sleep=lambda seconds: None, **options):
        final = totals
    db.session.expire_all()
    return final


def _customer(email):
    return db.session.scalar(select(Customer).where(Customer.email == email))


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def _seed(store, n=3):
    for i in range(n):
        store.put(f"C{i}", at(i), email=f"user{i}@example.com", name=f"User {i}",
                  mobile="138 0013 800" + str(i), company={"name": "ACME Ltd"},
                  level="A类客户", owner="Wang", labels="vip, renewal")


def test_initial_sync_creates_profiles_with_identities_and_organization(any_db_app, store,
                                                                        stub_url):
    _seed(store, 3)
    source = make_source(stub_url)
    totals = _sync(source.id)
    assert (totals.status, totals.created, totals.review) == ("ok", 3, 0)
    customer = _customer("user1@example.com")
    assert (customer.tier, customer.phone, customer.company) == ("VIP", "+8613800138001",
                                                                 "ACME Ltd")
    assert customer.organization.name == "ACME Ltd" and _count(Organization) == 1
    assert customer.crm_url == "https://crm.example.com/customers/C1"
    assert customer.provenance["tier"]["source"] == "stub-crm"
    assert customer.provenance["tier"]["external_id"] == "C1"
    kinds = set(db.session.scalars(select(CustomerIdentity.kind).where(
        CustomerIdentity.customer_id == customer.id)))
    assert kinds == {"email", "phone", "external"}
    assert stored_watermark(source.id).value is not None


def test_second_sync_reads_only_changes_and_skips_what_is_not_newer(any_db_app, store,
                                                                    stub_url):
    _seed(store, 3)
    source = make_source(stub_url)
    _sync(source.id)
    store.put("C2", at(30), email="user2@example.com", name="User Two", level="B类客户")
    totals = _sync(source.id)
    # The overlap re-reads nothing older than the watermark minus a second: only C2 is new.
    assert (totals.created, totals.updated) == (0, 1)
    assert _customer("user2@example.com").tier == "Standard"
    again = _sync(source.id)
    assert (again.updated, again.created) == (0, 0)


def test_dry_run_reports_changes_and_writes_nothing(any_db_app, store, stub_url):
    _seed(store, 2)
    source = make_source(stub_url)
    totals = _sync(source.id, dry_run=True)
    assert (totals.created, totals.status) == (2, "running")
    assert _count(Customer) == 0
    assert _count(CrmSyncRun) == 0
    assert stored_watermark(source.id) is None


def test_record_that_fails_mapping_goes_to_review_and_changes_nothing(any_db_app, store,
                                                                      stub_url):
    store.put("C1", at(1), email="not-an-email", name="Broken")
    store.put("C2", at(2), email="ok@example.com", name="Fine", mobile="12")
    store.put("C3", at(3), email="good@example.com", name="Good")
    source = make_source(stub_url)
    totals = _sync(source.id)
    assert (totals.created, totals.review) == (1, 2)
    reasons = sorted(db.session.scalars(select(CrmReviewItem.reason)))
    assert reasons[0].startswith("C1: invalid email")
    assert reasons[1].startswith("C2: phone:")
    assert _customer("ok@example.com") is None  # nothing half-applied


def test_crm_deletes_found_by_full_sync_sweep_are_soft_deletes(any_db_app, store, stub_url):
    _seed(store, 3)
    source = make_source(stub_url)
    _sync(source.id)
    store.remove("C0")
    totals = _sync(source.id, full=True)
    assert totals.deleted == 1
    gone = _customer("user0@example.com")
    assert gone is not None and gone.deleted_at is not None
    assert _customer("user1@example.com").deleted_at is None


def test_sweep_refuses_an_empty_listing(any_db_app, store, stub_url):
    _seed(store, 2)
    source = make_source(stub_url)
    _sync(source.id)
    for i in range(2):
        store.remove(f"C{i}")
    totals = _sync(source.id, full=True)
    assert totals.status == "failed" and "listed no records" in totals.error
    assert _count(Customer) == 2 and _customer("user0@example.com").deleted_at is None


def test_match_by_email_links_an_existing_customer_case_insensitively(any_db_app, store,
                                                                      stub_url):
    existing = find_or_create_customer("User0@Example.com", "Mail sender")
    db.session.commit()
    _seed(store, 1)
    _sync(make_source(stub_url).id)
    assert _count(Customer) == 1
    assert db.session.get(Customer, existing.id).tier == "VIP"


def test_match_by_phone_adds_the_new_email_as_a_secondary_identity(any_db_app, store,
                                                                   stub_url):
    _seed(store, 1)
    source = make_source(stub_url)
    _sync(source.id)
    store.put("OTHER-1", at(40), email="private@example.com", mobile="13800138000")
    _sync(make_source(stub_url, name="second-crm").id)
    assert _count(Customer) == 1
    assert find_or_create_customer("PRIVATE@example.com").email == "user0@example.com"


def test_secondary_email_from_crm_finds_the_customer_for_inbound_mail(any_db_app, store,
                                                                      stub_url):
    store.put("C1", at(1), email="main@example.com", other_emails=["alias@example.com"])
    _sync(make_source(stub_url).id)
    assert find_or_create_customer("Alias@Example.com").email == "main@example.com"


def test_crm_change_to_helpdesk_owned_field_goes_to_conflict_queue(any_db_app, store, stub_url):
    _seed(store, 1)
    source = make_source(stub_url)
    _sync(source.id)
    customer = _customer("user0@example.com")
    edit_profile(AGENT, customer, {"tags": ["key-account"]})
    db.session.commit()
    store.put("C0", at(50), email="user0@example.com", labels="churn-risk")
    totals = _sync(source.id)
    assert totals.conflicts == 1
    assert _customer("user0@example.com").tags == ["key-account"]
    conflict = db.session.scalar(select(ProfileConflict))
    assert (conflict.field, conflict.crm_value, conflict.reason) == (
        "tags", ["churn-risk"], "helpdesk_owned")


def test_crm_change_to_a_field_an_agent_edited_is_a_conflict_not_an_overwrite(any_db_app, store,
                                                                              stub_url):
    store.put("C0", at(1), email="user0@example.com", owner="Wang")
    source = make_source(stub_url)
    _sync(source.id)
    customer = _customer("user0@example.com")
    # Ownership moved to the helpdesk, an agent edited, then the CRM became owner again.
    customer.provenance = {**customer.provenance,
                           "owner": {**customer.provenance["owner"], "owner": "helpdesk"}}
    edit_profile(AGENT, customer, {"owner": "Zhao"})
    customer.provenance = {**customer.provenance,
                           "owner": {**customer.provenance["owner"], "owner": "crm"}}
    db.session.commit()
    store.put("C0", at(55), email="user0@example.com", owner="Sun")
    totals = _sync(source.id)
    assert totals.conflicts == 1
    assert _customer("user0@example.com").owner == "Zhao"
    assert db.session.scalar(select(ProfileConflict.reason)) == "edited_locally"


def test_bad_credentials_stop_the_sync_and_flag_the_source(any_db_app, store, stub_url):
    _seed(store, 1)
    source = make_source(stub_url)
    source.secrets = {"token": "wrong"}
    db.session.commit()
    totals = _sync(source.id)
    assert totals.status == "failed" and "AuthFailed" in totals.error
    source = db.session.get(CrmSource, source.id)
    assert source.status == "failing" and "401" in source.last_error
    assert db.session.scalar(select(CrmSyncRun.status)) == "failed"


def test_burst_rate_limit_waits_and_resumes(any_db_app, store, stub_url):
    _seed(store, 3)
    source = make_source(stub_url)
    store.fail_next(429, 2, **{"Retry-After": "2"})
    waits = []
    final = None
    for totals in run_sync(source.id, sleep=waits.append):
        final = totals
    assert waits == [2.0, 2.0]
    assert (final.status, final.created) == ("ok", 3)


def test_daily_rate_limit_reschedules_instead_of_sleeping(any_db_app, store, stub_url):
    _seed(store, 1)
    source = make_source(stub_url)
    store.fail_next(429, 1, **{"Retry-After": "3600"})
    totals = _sync(source.id)
    assert (totals.status, totals.retry_in) == ("rate_limited", 3600.0)
    assert _count(Customer) == 0


def test_transient_error_is_retried_by_the_job_with_backoff(any_db_app, store, stub_url):
    _seed(store, 2)
    source = make_source(stub_url)
    store.fail_next(503, 2)
    sync_source(source.id)  # eager jobs: the retries run at once
    db.session.commit()
    statuses = list(db.session.scalars(select(CrmSyncRun.status).order_by(CrmSyncRun.id)))
    assert statuses == ["retrying", "retrying", "ok"]
    assert _count(Customer) == 2


def test_a_second_sync_of_the_same_source_is_refused_while_one_holds_the_lease(any_db_app, store,
                                                                               stub_url):
    _seed(store, 1)
    source = make_source(stub_url)
    from crm_bridge.locks import hold_source
    with hold_source(source.id):
        totals = _sync(source.id)
    assert totals.status == "skipped"
    assert _count(Customer) == 0
