"""What ingest reads and writes per mail: everyone a mail names found in one look-up, the
undeliverable list consulted without a write per mail, the raw row's outcome in one UPDATE,
and the acknowledgement limit counted per customer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import event, select

from channels.email.models import RawEmail, UndeliverableAddress
from channels.email.tasks import ingest_batch
from channels.email.vetting import AUTOREPLY_LIMIT_PER_HOUR
from helpdesk.actors import SYSTEM
from helpdesk.customers.models import Customer, CustomerIdentity
from helpdesk.customers.operations import find_or_create_customer
from helpdesk.db import db, utcnow
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.operations import open_ticket
from tests.email.conftest import customer_mail
from tests.email.test_understanding import _dsn, _our_message_id
from tests.email.understanding import deliver, mailbox, open_tickets


@contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements run inside the block, as the database received them."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def _known(*emails: str) -> None:
    for email in emails:
        find_or_create_customer(email, email.split("@")[0].title())
    db.session.commit()


def test_mail_copying_known_colleagues_looks_them_all_up_in_one_query(
        any_db_app: Flask) -> None:
    box = mailbox()
    _known("alice@customer.test", "bob@customer.test", "carol@customer.test")

    with statements() as seen:
        deliver(box, customer_mail(sender="Alice <alice@customer.test>",
                                   to="support@helpdesk.test, bob@customer.test",
                                   extra_headers=[("Cc", "Carol <carol@customer.test>")]))

    [ticket] = open_tickets()
    assert ticket.customer.email == "alice@customer.test"
    assert sorted(p.customer.email for p in ticket.participants) == [
        "bob@customer.test", "carol@customer.test"]
    customer_reads = [sql for sql in seen if sql.startswith("SELECT")
                      and ("FROM customer" in sql or "FROM customer_identity" in sql)]
    assert len(customer_reads) == 1
    assert not any(sql.startswith("INSERT INTO customer") for sql in seen)


def test_mail_naming_new_people_makes_each_a_customer_with_an_email_identity(
        any_db_app: Flask) -> None:
    deliver(mailbox(), customer_mail(sender="Dora New <Dora@Customer.test>",
                                     to="support@helpdesk.test, erik@customer.test"))

    customers = {c.email: c for c in db.session.scalars(select(Customer))}
    assert sorted(customers) == ["dora@customer.test", "erik@customer.test"]
    assert customers["dora@customer.test"].name == "Dora New"
    identities = db.session.execute(select(CustomerIdentity.value, CustomerIdentity.customer_id)
                                    .where(CustomerIdentity.kind == "email")).all()
    assert sorted(identities) == sorted((email, c.id) for email, c in customers.items())


def test_mail_from_an_address_that_never_bounced_writes_nothing_to_the_undeliverable_list(
        any_db_app: Flask) -> None:
    with statements() as seen:
        deliver(mailbox(), customer_mail(sender="alice@customer.test"))

    assert len(open_tickets()) == 1
    assert not any("email_undeliverable_address" in sql for sql in seen
                   if not sql.startswith("SELECT"))


def test_raw_row_outcome_is_written_in_one_update(any_db_app: Flask) -> None:
    with statements() as seen:
        raw = deliver(mailbox(), customer_mail(sender="alice@customer.test"))

    assert (raw.status, raw.verdict, raw.ticket_id) == ("ingested", "accept",
                                                        open_tickets()[0].id)
    assert raw.message_id and raw.content_sha256
    assert len([sql for sql in seen if sql.startswith("UPDATE email_raw")]) == 1


def _store(box_id: int, raw: bytes, uid: int) -> int:
    row = RawEmail(mailbox_id=box_id, uidvalidity=1, uid=uid, raw=raw, size=len(raw))
    db.session.add(row)
    db.session.commit()
    return row.id


def test_address_bounced_and_written_from_in_one_batch_is_deliverable_again(
        any_db_app: Flask) -> None:
    box = mailbox()
    deliver(box, customer_mail(sender="gone@customer.test"))
    [ticket] = open_tickets()
    bounce = _store(box.id, _dsn(_our_message_id(ticket), "gone@customer.test"), 9001)
    back = _store(box.id, customer_mail(sender="gone@customer.test", subject="I am back"), 9002)

    ingest_batch([bounce, back])

    statuses = db.session.scalars(select(RawEmail.status).where(
        RawEmail.id.in_([bounce, back])).order_by(RawEmail.id)).all()
    assert statuses == ["bounce", "ingested"]
    assert db.session.scalars(select(UndeliverableAddress)).all() == []


def test_acknowledgement_limit_counts_the_customers_tickets_from_any_of_their_addresses(
        any_db_app: Flask) -> None:
    customer = find_or_create_customer("main@customer.test", "Main")
    db.session.add(CustomerIdentity(customer_id=customer.id, kind="email", namespace="",
                                    value="other@customer.test"))
    for number in range(AUTOREPLY_LIMIT_PER_HOUR):
        open_ticket(SYSTEM, customer=customer, subject=f"Earlier {number}", body_text="x",
                    channel="email", acknowledge=False)
    db.session.commit()

    raw = deliver(mailbox(), customer_mail(sender="other@customer.test"))

    assert raw.verdict == "accept-without-autoreply"
    assert [hit["rule"] for hit in raw.hits or []] == ["autoreply-rate"]
    ticket = db.session.get(Ticket, raw.ticket_id)
    assert ticket is not None and ticket.customer_id == customer.id


def test_tickets_older_than_an_hour_do_not_count_towards_the_acknowledgement_limit(
        any_db_app: Flask) -> None:
    customer = find_or_create_customer("main@customer.test", "Main")
    for number in range(AUTOREPLY_LIMIT_PER_HOUR):
        ticket = open_ticket(SYSTEM, customer=customer, subject=f"Earlier {number}",
                             body_text="x", channel="email", acknowledge=False)
        ticket.created_at = utcnow() - timedelta(hours=2)
    db.session.commit()

    raw = deliver(mailbox(), customer_mail(sender="main@customer.test"))

    assert raw.verdict == "accept"
