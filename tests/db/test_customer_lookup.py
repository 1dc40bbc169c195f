"""Finding customers by email address, one or many at once, on both engines."""

from __future__ import annotations

from flask import Flask

from helpdesk.customers.models import Customer, CustomerIdentity
from helpdesk.customers.operations import (
    customer_by_email,
    customers_by_email,
    find_or_create_customers,
)
from helpdesk.db import db


def _customer(email: str, name: str = "", **fields: object) -> Customer:
    customer = Customer(email=email, name=name, tags=[], extra={}, provenance={}, **fields)
    db.session.add(customer)
    db.session.flush()
    return customer


def test_addresses_are_found_whatever_their_case_and_unknown_ones_left_out(
        any_db_app: Flask) -> None:
    ann = _customer("ann@customer.test")
    db.session.add(CustomerIdentity(customer_id=ann.id, kind="email", namespace="",
                                    value="ann.work@customer.test"))
    db.session.commit()

    found = customers_by_email(["ANN@customer.test", " ann.work@Customer.test ",
                                "nobody@customer.test"])

    assert found == {"ann@customer.test": ann, "ann.work@customer.test": ann}


def test_an_email_identity_wins_over_another_customers_primary_address(
        any_db_app: Flask) -> None:
    # A CRM sync moved the address to Ben; the old record still has it as its primary one.
    stale = _customer("shared@customer.test", "Old record")
    ben = _customer("ben@customer.test", "Ben")
    db.session.add(CustomerIdentity(customer_id=ben.id, kind="email", namespace="",
                                    value="shared@customer.test"))
    db.session.commit()

    assert customer_by_email("shared@customer.test") == ben
    assert customers_by_email(["shared@customer.test", "ben@customer.test"]) == {
        "shared@customer.test": ben, "ben@customer.test": ben}
    assert stale.id != ben.id


def test_the_primary_address_of_a_merged_customer_finds_the_one_it_was_merged_into(
        any_db_app: Flask) -> None:
    winner = _customer("winner@customer.test")
    _customer("loser@customer.test", merged_into_id=winner.id)
    db.session.commit()

    assert customers_by_email(["loser@customer.test"]) == {"loser@customer.test": winner}


def test_find_or_create_keeps_known_customers_and_creates_the_rest_once(
        any_db_app: Flask) -> None:
    known = _customer("known@customer.test")
    db.session.commit()

    customers = find_or_create_customers({"Known@customer.test": "Known Person",
                                          "new@customer.test": "New Person",
                                          "NEW@customer.test": ""})
    db.session.commit()

    assert list(customers) == ["known@customer.test", "new@customer.test"]
    assert customers["known@customer.test"] == known
    assert known.name == "Known Person"  # it had none; a known name is never replaced
    assert customers["new@customer.test"].name == "New Person"
    assert customer_by_email("new@customer.test") == customers["new@customer.test"]
    assert find_or_create_customers({"known@customer.test": "Someone Else"})[
        "known@customer.test"].name == "Known Person"
