"""Replaying the CRM review list after the mapping or the CRM's data was fixed."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crm_bridge.models import CrmReviewItem, CrmSource
from crm_bridge.operations import record_unmapped
from crm_bridge.review import replay, unresolved_items_of
from crm_bridge.sync import run_sync
from helpdesk.auth.models import Agent
from helpdesk.customers.models import Customer
from helpdesk.db import db
from tests.conftest import csrf_token, login, post_form
from tests.crm_bridge.conftest import MAPPING, make_source
from tests.crm_bridge.rest_stub import CustomerStore, at


def _sync(source: CrmSource) -> None:
    for _ in run_sync(source.id, sleep=lambda seconds: None):
        pass


def _items() -> list[CrmReviewItem]:
    return list(db.session.scalars(select(CrmReviewItem).order_by(CrmReviewItem.id)))


def _customer(email: str) -> Customer | None:
    return db.session.scalar(select(Customer).where(Customer.email == email))


def test_item_that_maps_after_the_mapping_was_fixed_is_applied_and_leaves_the_list(
        any_db_app: Flask, store: CustomerStore, stub_url: str) -> None:
    store.put("C1", at(1), email="gold@example.com", name="Gold", mobile="12",
              level="A类客户")
    source = make_source(stub_url)
    _sync(source)
    [item] = _items()
    assert item.external_id == "C1" and item.reason.startswith("C1: phone:")
    assert _customer("gold@example.com") is None

    # The admin decides the CRM's phone numbers are not worth mapping.
    fields = {name: rule for name, rule in MAPPING["fields"].items() if name != "phone"}
    source.mapping = {**MAPPING, "fields": fields}
    outcomes = replay(source, unresolved_items_of(source))
    db.session.commit()

    assert outcomes["replayed"] == 1
    assert (item.resolution, item.resolved_at is not None) == ("replayed", True)
    customer = _customer("gold@example.com")
    assert customer is not None and customer.tier == "VIP"


def test_replay_reads_the_record_again_from_the_crm(any_db_app: Flask, store: CustomerStore,
                                                    stub_url: str) -> None:
    store.put("C1", at(1), email="not-an-email", name="Typo")
    source = make_source(stub_url)
    _sync(source)
    store.put("C1", at(5), email="fixed@example.com", name="Typo fixed")

    assert replay(source, unresolved_items_of(source))["replayed"] == 1
    db.session.commit()
    customer = _customer("fixed@example.com")
    assert customer is not None and customer.name == "Typo fixed"


def test_item_still_failing_stays_with_its_new_reason_and_changes_nothing(
        any_db_app: Flask, store: CustomerStore, stub_url: str) -> None:
    store.put("C1", at(1), email="not-an-email", name="Broken")
    source = make_source(stub_url)
    _sync(source)
    store.put("C1", at(5), email="still wrong", name="Broken")

    outcomes = replay(source, unresolved_items_of(source))
    db.session.commit()
    assert outcomes["superseded"] == 1
    old, new = _items()
    assert old.resolution == "superseded"
    assert new.resolved_at is None and "still wrong" in new.reason
    assert replay(source, [new])["failing"] == 1
    assert new.resolved_at is None
    assert db.session.scalar(select(Customer.id)) is None


def test_item_for_a_record_the_crm_no_longer_has_leaves_the_list_as_gone(
        any_db_app: Flask, store: CustomerStore, stub_url: str) -> None:
    store.put("C1", at(1), email="not-an-email", name="Broken")
    source = make_source(stub_url)
    _sync(source)
    store.remove("C1")
    assert replay(source, unresolved_items_of(source))["gone"] == 1
    assert _items()[0].resolution == "gone"


def test_file_row_without_an_external_id_is_mapped_again_from_the_kept_record(
        app: Flask, store: CustomerStore, stub_url: str) -> None:
    source = make_source(stub_url)
    item = record_unmapped(source.name, 7, {"email": "row7@example.com", "name": "Row Seven",
                                            "level": "A类客户"}, "tier: unknown")
    assert replay(source, [item])["replayed"] == 1
    customer = _customer("row7@example.com")
    assert customer is not None and customer.tier == "VIP"
    assert store.requests == []  # nothing to read again from the CRM


def test_admin_replays_from_the_review_page(app: Flask, client: FlaskClient, admin: Agent,
                                            store: CustomerStore, stub_url: str) -> None:
    store.put("C1", at(1), email="not-an-email", name="Typo")
    source = make_source(stub_url)
    _sync(source)
    store.put("C1", at(5), email="page@example.com", name="Typo fixed")
    login(client, admin.email)
    page = client.get("/console/crm/review").text
    assert "Replay all of stub-crm" in page
    response = post_form(client, "/console/crm/review",
                         f"/console/crm/review/sources/{source.id}/replay", {},
                         follow_redirects=True)
    assert "1 applied" in response.text
    assert _customer("page@example.com") is not None


def test_agents_who_are_not_admins_cannot_replay(app: Flask, client: FlaskClient, agent: Agent,
                                                 store: CustomerStore, stub_url: str) -> None:
    source = make_source(stub_url)
    item = record_unmapped(source.name, 1, {"email": "x@example.com"}, "reason")
    db.session.commit()
    login(client, agent.email)
    token = csrf_token(client.get("/console/").text)
    assert client.post(f"/console/crm/review/{item.id}/replay",
                       data={"csrf_token": token}).status_code == 403
    db.session.refresh(item)
    assert item.resolved_at is None
