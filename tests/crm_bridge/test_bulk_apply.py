"""Applying a page of profiles in bulk keeps every per-record rule, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, text

from helpdesk.customers.models import Customer, CustomerIdentity, ProfileConflict
from helpdesk.customers.profiles import IncomingProfile, apply_profiles
from helpdesk.db import db
from tests.conftest import app_with_schema

SOURCE = "acme-crm"
CHANGED_AT = datetime(2026, 5, 1, tzinfo=UTC)


def _customer(email):
    return db.session.scalar(select(Customer).where(Customer.email == email))


def _identities(customer):
    return {(i.kind, i.value) for i in db.session.scalars(
        select(CustomerIdentity).where(CustomerIdentity.customer_id == customer.id))}


def test_every_new_customer_of_a_page_gets_its_own_identities(any_db_app):
    profiles = [IncomingProfile(email=f"user{n}@example.com", external_id=f"C{n}",
                                phones=(f"+86138001380{n:02d}",), fields={"name": f"User {n}"},
                                updated_at=CHANGED_AT) for n in range(60)]
    # Reversed, so the order of the rows differs from the order of the ids.
    result = apply_profiles(SOURCE, profiles[::-1])
    db.session.commit()
    assert result.created == 60
    for n in (0, 17, 59):
        customer = _customer(f"user{n}@example.com")
        assert customer.name == f"User {n}"
        assert _identities(customer) == {("email", f"user{n}@example.com"),
                                         ("external", f"C{n}"),
                                         ("phone", f"+86138001380{n:02d}")}


def test_two_records_of_one_page_for_one_email_make_one_customer_with_both_ids(any_db_app):
    result = apply_profiles(SOURCE, [
        IncomingProfile(email="li@example.com", external_id="C1", fields={"name": "Li"}),
        IncomingProfile(email="li@example.com", external_id="C2",
                        fields={"name": "Li Wei", "tier": "VIP"})])
    db.session.commit()
    assert (result.created, result.updated) == (1, 1)
    customer = _customer("li@example.com")
    assert (customer.name, customer.tier) == ("Li Wei", "VIP")
    assert customer.provenance["tier"]["external_id"] == "C2"
    assert {("external", "C1"), ("external", "C2")} <= _identities(customer)


def test_a_later_record_of_the_page_changing_a_helpdesk_owned_field_opens_a_conflict(
        any_db_app):
    result = apply_profiles(SOURCE, [
        IncomingProfile(email="li@example.com", external_id="C1", fields={"tags": ["a"]}),
        IncomingProfile(email="li@example.com", external_id="C2", fields={"tags": ["b"]})],
        helpdesk_owned={"tags"})
    db.session.commit()
    customer = _customer("li@example.com")
    conflict = db.session.scalar(select(ProfileConflict))
    assert result.conflicts == 1 and customer.tags == ["a"]
    assert (conflict.customer_id, conflict.field, conflict.crm_value, conflict.local_value,
            conflict.reason) == (customer.id, "tags", ["b"], ["a"], "helpdesk_owned")


def test_a_company_change_shows_the_new_organization_before_the_commit(any_db_app):
    apply_profiles(SOURCE, [IncomingProfile(email="li@example.com", fields={"company": "ACME"})])
    db.session.commit()
    customer = _customer("li@example.com")
    assert customer.organization.name == "ACME"
    apply_profiles(SOURCE, [IncomingProfile(email="li@example.com",
                                            fields={"company": "Globex"})])
    assert customer.organization.name == "Globex"


def test_postgresql_plans_a_bulk_apply_afresh_and_nothing_else(postgres_url, tmp_path,
                                                               smtp_sink):
    with app_with_schema(postgres_url, tmp_path, smtp_sink):
        assert db.session.scalar(text("SHOW plan_cache_mode")) == "auto"
        apply_profiles(SOURCE, [IncomingProfile(email="li@example.com", fields={})])
        assert db.session.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
        db.session.commit()
        assert db.session.scalar(text("SHOW plan_cache_mode")) == "auto"
