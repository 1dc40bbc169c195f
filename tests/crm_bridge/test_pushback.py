"""Push-back of service events to CRMs through the outbox, against the vendors' stubs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from crm_bridge.models import CrmPushOutbox, CrmSource
from crm_bridge.pushback import deliver_push, record_interaction
from crm_bridge.queries import failed_pushes
from helpdesk.actors import SYSTEM
from helpdesk.customers.models import Customer
from helpdesk.customers.operations import find_or_create_customer
from helpdesk.db import db
from helpdesk.jobs import JobFailure
from helpdesk.surveys.models import SurveyInvitation
from helpdesk.surveys.operations import answer_survey
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.operations import open_ticket, update_ticket
from tests.crm_bridge.stubs.fixture import fixture_customers
from tests.crm_bridge.stubs.framework import StubCrm
from tests.crm_bridge.stubs.harness import CASES, VendorCase

CASE = {case.vendor: case for case in CASES}


@pytest.fixture
def stubs() -> Iterator[dict[str, StubCrm]]:
    started = {name: CASE[name].stub(fixture_customers()).start()
               for name in ("salesforce", "hubspot", "fxiaoke")}
    yield started
    for stub in started.values():
        stub.stop()


def connect(case: VendorCase, stub: StubCrm, **overrides: str) -> CrmSource:
    source = CrmSource(name=f"{case.vendor} CRM", kind=case.vendor,
                       settings={**case.config(stub), **overrides}, mapping={})
    db.session.add(source)
    db.session.commit()
    return source


def crm_customer(source: CrmSource, stub: StubCrm) -> Customer:
    customer = find_or_create_customer("customer1@example.cn", "陈美")
    customer.profile_source = source.name
    customer.external_id = stub.vendor_id(stub.customers["1001"])
    db.session.commit()
    return customer


def open_crm_ticket(customer: Customer) -> Ticket:
    ticket = open_ticket(SYSTEM, customer=customer, subject="发票抬头错误",
                         body_text="请帮忙更正发票抬头。", channel="web")
    db.session.commit()
    return ticket


def outbox() -> list[CrmPushOutbox]:
    db.session.expire_all()
    return list(db.session.scalars(select(CrmPushOutbox).order_by(CrmPushOutbox.id)))


@pytest.mark.postgres
def test_the_same_event_twice_makes_one_crm_activity(any_db_app: Flask, stubs):
    stub = stubs["salesforce"]
    source = connect(CASE["salesforce"], stub)
    ticket = open_crm_ticket(crm_customer(source, stub))

    [row] = outbox()
    assert (row.status, row.idempotency_key) == ("sent", f"ticket:{ticket.id}:created")
    [task] = stub.activities.values()
    assert row.external_record_id == task["Id"]
    assert task["WhoId"] == stub.vendor_id(stub.customers["1001"])

    again = record_interaction(ticket, "ticket_created", f"ticket:{ticket.id}:created", "x")
    db.session.commit()
    assert again is not None and again.id == row.id and len(outbox()) == 1
    # Even a second delivery of the same key (a worker crashed after the CRM answered)
    # converges on the one Task in the CRM.
    row.status = "pending"
    deliver_push(row.id)
    db.session.commit()
    assert len(stub.activities) == 1 and outbox()[0].status == "sent"


def test_solving_and_the_survey_answer_are_pushed_as_activities(app: Flask, stubs):
    stub = stubs["hubspot"]
    source = connect(CASE["hubspot"], stub)
    ticket = open_crm_ticket(crm_customer(source, stub))

    update_ticket(SYSTEM, ticket, status="solved")
    db.session.commit()
    invitation = db.session.scalar(select(SurveyInvitation))
    assert invitation is not None
    answer_survey(invitation, 5, "很满意")
    db.session.commit()

    kinds = [row.event["kind"] for row in outbox()]
    assert kinds == ["ticket_created", "ticket_solved", "csat_submitted"]
    assert all(row.status == "sent" for row in outbox())
    notes = [note["properties"] for note in stub.activities.values()]
    assert len(notes) == 3 and "很满意" in notes[2]["hs_note_body"]


def test_a_throttled_push_is_retried_and_lands_once(app: Flask, stubs):
    stub = stubs["hubspot"]
    source = connect(CASE["hubspot"], stub)
    customer = crm_customer(source, stub)
    stub.throttle = 1

    open_crm_ticket(customer)

    [row] = outbox()
    assert (row.status, row.attempts) == ("sent", 2)
    assert len(stub.activities) == 1


def test_a_push_the_crm_refuses_is_visible_to_admins(app: Flask, stubs):
    stub = stubs["salesforce"]
    source = connect(CASE["salesforce"], stub, client_secret="revoked")
    open_crm_ticket(crm_customer(source, stub))

    [row] = failed_pushes(source.id)
    assert row.status == "failed" and "AuthFailed" in (row.last_error or "")
    failure = db.session.scalar(select(JobFailure))
    assert failure is not None and failure.queue == "crm" and source.name in failure.error
    assert stub.activities == {}


def test_customers_of_a_read_only_crm_queue_nothing(app: Flask, stubs):
    stub = stubs["fxiaoke"]
    source = connect(CASE["fxiaoke"], stub)
    open_crm_ticket(crm_customer(source, stub))
    assert outbox() == []
