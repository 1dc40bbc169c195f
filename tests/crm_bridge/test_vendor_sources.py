"""Every vendor source end to end: a source row with the vendor's example mapping, its local
stub over real HTTP, the sync job, and customers in the database.

Each test runs once per vendor on SQLite and, for two vendors (a timestamp source with a
delete feed and a naive-local-time source without one), on PostgreSQL too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from crm_bridge.adapters.timestamps import parse_iso
from crm_bridge.contract import DeleteSignal
from crm_bridge.models import CrmSource, CrmSyncRun
from crm_bridge.sync import (
    Totals,
    adapter_for,
    run_sync,
    stored_watermark,
    sweep_source,
    sync_source,
)
from helpdesk.customers.models import Customer, CustomerIdentity
from helpdesk.db import db
from tests.conftest import app_with_schema
from tests.crm_bridge.stubs.fixture import StubCustomer, fixture_customers
from tests.crm_bridge.stubs.framework import StubCrm
from tests.crm_bridge.stubs.harness import CASES, VendorCase
from tests.services import SmtpSink

EXAMPLES = Path(__file__).parents[2] / "crm_bridge" / "examples"
POSTGRES_VENDORS = ("salesforce", "kingdee")
#: The fixture's tiers through the examples' value maps.
CANONICAL_TIER = {"VIP": "VIP", "A类客户": "VIP", "B类客户": "Standard", "Standard": "Standard"}


@dataclass(frozen=True)
class Profile:
    """What a vendor's example mapping makes of a fixture customer."""

    name_is_company: bool = False  # account-level CRMs: the customer is the company
    owner: str | None = "owner"  # "owner": the CRM user's name; else a fixed value or none
    lifetime_value: str | None = None  # format string over the fixture's value
    tags: bool = False
    updated_at: bool = True  # maps the source's modification time into extra

    def of(self, customer: StubCustomer) -> dict[str, object]:
        return {
            "email": customer.email,
            "name": customer.company if self.name_is_company else customer.name,
            "phone": "+" + "".join(ch for ch in customer.phone if ch.isdigit()),
            "company": customer.company,
            "tier": CANONICAL_TIER[customer.tier],
            "owner": customer.owner if self.owner == "owner" else self.owner,
            "lifetime_value": self.lifetime_value.format(customer.lifetime_value)
            if self.lifetime_value else None,
            "tags": customer.tags if self.tags else [],
        }


PROFILES = {
    "salesforce": Profile(lifetime_value="{}", tags=True),
    "hubspot": Profile(owner="8812345", lifetime_value="{}", tags=True),
    "zoho": Profile(lifetime_value="{}", tags=True),
    "jiandaoyun": Profile(lifetime_value="{}", tags=True),
    "fxiaoke": Profile(lifetime_value="{:.2f}"),
    "kingdee": Profile(name_is_company=True),
    "yonbip": Profile(owner=None),
    "xiaoshouyi": Profile(name_is_company=True, owner="3301", lifetime_value="{}"),
    "qidian": Profile(updated_at=False),
}


def _params(cases: list[VendorCase]) -> list[object]:
    return [pytest.param(case, "sqlite", id=f"{case}-sqlite") for case in cases] + [
        pytest.param(case, "postgresql", id=f"{case}-postgresql", marks=pytest.mark.postgres)
        for case in cases if case.vendor in POSTGRES_VENDORS]


@pytest.fixture
def vendor_app(request: pytest.FixtureRequest, tmp_path: Path,
               smtp_sink: SmtpSink) -> Iterator[Flask]:
    database = request.node.callspec.params["database"]
    url = (request.getfixturevalue("postgres_url") if database == "postgresql"
           else f"sqlite:///{tmp_path / 'helpdesk.sqlite'}")
    with app_with_schema(url, tmp_path, smtp_sink) as app:
        yield app


def _serve(case: VendorCase, **options: object) -> StubCrm:
    return case.stub(fixture_customers(), **options).start()


@pytest.fixture
def stub(case: VendorCase) -> Iterator[StubCrm]:
    server = _serve(case)
    yield server
    server.stop()


def make_vendor_source(case: VendorCase, stub: StubCrm) -> CrmSource:
    """A source as an admin would configure it: kind, settings, the example mapping."""
    mapping = json.loads((EXAMPLES / f"{case.vendor}.json").read_text(encoding="utf-8"))
    source = CrmSource(name=f"{case.vendor}-crm", kind=case.vendor,
                       settings=case.config(stub),
                       mapping=mapping,
                       record_url_template=f"https://{case.vendor}.example.com/{{external_id}}")
    db.session.add(source)
    db.session.commit()
    return source


def _sync(source_id: int, waits: list[float] | None = None, **options: bool) -> Totals:
    final = Totals()
    for totals in run_sync(source_id, sleep=(waits if waits is not None else []).append,
                           **options):
        final = totals
    db.session.expire_all()
    return final


def _customer(email: str) -> Customer:
    customer = db.session.scalar(select(Customer).where(Customer.email == email))
    assert customer is not None, email
    return customer


def _count(*conditions: object) -> int:
    return db.session.scalar(select(func.count(Customer.id)).where(*conditions)) or 0


def _profile(customer: Customer) -> dict[str, object]:
    return {name: getattr(customer, name) for name in (
        "email", "name", "phone", "company", "tier", "owner", "lifetime_value", "tags")}


@pytest.mark.parametrize(("case", "database"), _params(CASES))
def test_sync_job_maps_every_vendor_customer_into_the_canonical_profile(vendor_app, case,
                                                                        database, stub):
    source = make_vendor_source(case, stub)
    sync_source(source.id)
    db.session.commit()

    assert db.session.scalar(select(CrmSyncRun.status)) == "ok"
    assert _count() == len(stub.customers) == 30
    expected = PROFILES[case.vendor]
    for stub_customer in stub.customers.values():
        customer = _customer(stub_customer.email)
        assert _profile(customer) == expected.of(stub_customer)
        vendor_id = stub.vendor_id(stub_customer)
        assert customer.external_id == vendor_id
        assert customer.crm_url == f"https://{case.vendor}.example.com/{vendor_id}"
        assert customer.provenance["tier"]["source"] == source.name
        assert customer.provenance["tier"]["external_id"] == vendor_id
        assert customer.organization is not None
        assert customer.organization.name == stub_customer.company
        if expected.updated_at:  # epoch ms, naive Shanghai time or ISO, all read as UTC
            mapped = parse_iso(customer.extra["crm_updated_at"])
            assert abs(mapped - stub_customer.updated_at) < timedelta(seconds=1)
    phones = set(db.session.scalars(select(CustomerIdentity.value).where(
        CustomerIdentity.kind == "phone")))
    assert "+8613800000001" in phones


@pytest.mark.parametrize(("case", "database"), _params(CASES))
def test_incremental_sync_after_an_edit_in_the_crm_updates_exactly_that_customer(
        vendor_app, case, database, stub):
    source = make_vendor_source(case, stub)
    _sync(source.id)
    before = {c.email: _profile(c) for c in db.session.scalars(select(Customer))}
    edited = stub.customers["1003"]
    assert CANONICAL_TIER[edited.tier] == "Standard"
    stub.edit("1003", tier="A类客户", company="杭州示例材料有限公司")

    totals = _sync(source.id)

    assert (totals.status, totals.created, totals.updated) == ("ok", 0, 1)
    after = {c.email: _profile(c) for c in db.session.scalars(select(Customer))}
    changed = {email for email in after if after[email] != before[email]}
    assert changed == {edited.email}
    customer = _customer(edited.email)
    assert (customer.tier, customer.company) == ("VIP", "杭州示例材料有限公司")
    assert customer.organization is not None
    assert customer.organization.name == "杭州示例材料有限公司"


@pytest.mark.parametrize(("case", "database"), _params(CASES))
def test_a_customer_deleted_in_the_crm_is_soft_deleted(vendor_app, case, database, stub):
    source = make_vendor_source(case, stub)
    _sync(source.id)
    gone = stub.customers["1008"].email
    stub.delete("1008")

    totals = _sync(source.id)
    if adapter_for(source).capabilities.delete_signal is DeleteSignal.IN_PULL:
        assert totals.deleted == 1
    else:  # no delete feed: the periodic mark-and-sweep against list_ids() finds it
        assert totals.deleted == 0
        sweep_source(source.id)
        db.session.expire_all()

    assert _customer(gone).deleted_at is not None
    assert _count(Customer.deleted_at.is_not(None)) == 1
    assert _count(Customer.deleted_at.is_(None)) == 29


@pytest.mark.parametrize(("case", "database"), _params([c for c in CASES if c.token_expires]))
def test_tokens_expiring_during_a_sync_are_refreshed_and_the_sync_completes(
        vendor_app, case, database):
    stub = _serve(case, token_uses=1)  # every token is good for one request ...
    stub.stale_tokens = 1  # ... and the first one has expired by the time it is used
    try:
        source = make_vendor_source(case, stub)
        totals = _sync(source.id)
        assert (totals.status, totals.created) == ("ok", 30)
        assert stub.tokens_issued > 1
    finally:
        stub.stop()


@pytest.mark.parametrize(("case", "database"), _params(
    [c for c in CASES if c.throttle_scope == "burst"]))
def test_a_burst_throttle_during_a_sync_waits_the_vendor_wait_and_completes(
        vendor_app, case, database, stub):
    source = make_vendor_source(case, stub)
    _sync(source.id)
    stub.edit("1003", tier="A类客户")
    stub.throttle = 1
    waits: list[float] = []

    totals = _sync(source.id, waits)

    assert waits == [case.throttle_wait]
    assert (totals.status, totals.updated) == ("ok", 1)
    assert _customer(stub.customers["1003"].email).tier == "VIP"


@pytest.mark.parametrize(("case", "database"), _params(
    [c for c in CASES if c.throttle_scope == "daily"]))
def test_a_daily_throttle_reschedules_the_sync_job_which_then_completes(vendor_app, case,
                                                                        database, stub):
    source = make_vendor_source(case, stub)
    stub.throttle = 1

    sync_source(source.id)  # eager jobs: the rescheduled run follows at once
    db.session.commit()

    runs = db.session.execute(select(CrmSyncRun.status, CrmSyncRun.error)
                              .order_by(CrmSyncRun.id)).all()
    assert [status for status, _ in runs] == ["rate_limited", "ok"]
    assert f"retry after {case.throttle_wait:.1f}s" in (runs[0].error or "")
    assert _count() == 30


@pytest.mark.parametrize(("case", "database"), _params(
    [c for c in CASES if c.vendor == "zoho"]))
def test_cli_dry_run_against_a_vendor_reports_changes_and_writes_nothing(vendor_app, case,
                                                                         database, stub):
    source = make_vendor_source(case, stub)
    runner = vendor_app.test_cli_runner()

    first = runner.invoke(args=["crm", "sync", source.name, "--dry-run"])

    assert first.exit_code == 0, first.output
    assert "would be created 30, would be updated 0" in first.output
    assert _count() == 0
    assert db.session.scalar(select(func.count(CrmSyncRun.id))) == 0
    assert stored_watermark(source.id) is None

    assert runner.invoke(args=["crm", "sync", source.name]).exit_code == 0
    stub.edit("1003", tier="A类客户")
    second = runner.invoke(args=["crm", "sync", source.name, "--dry-run"])
    assert "would be created 0, would be updated 1" in second.output
    db.session.expire_all()
    assert _customer(stub.customers["1003"].email).tier == "Standard"
