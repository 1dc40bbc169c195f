"""The public support form."""

import io

from sqlalchemy import func, select

from helpdesk.db import db
from helpdesk.tickets.models import Ticket
from tests.conftest import csrf_token

VALID = {
    "name": "Gao Yang",
    "email": "gao.yang@example.cn",
    "subject": "无法登录",
    "message": "登录时提示密码错误，但密码是对的。",
}


def _submit(client, **fields):
    token = csrf_token(client.get("/support").text)
    return client.post(
        "/support",
        data={**VALID, **fields, "csrf_token": token},
        content_type="multipart/form-data",
    )


def _ticket_count():
    return db.session.scalar(select(func.count(Ticket.id)))


def test_customer_submits_the_form_and_gets_a_reference_and_an_acknowledgement(client, smtp_sink):
    response = _submit(client, attachment=(io.BytesIO(b"screenshot"), "屏幕截图.png"))
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).text
    ticket = db.session.scalars(select(Ticket)).one()
    assert f"#{ticket.id}" in page
    assert ticket.channel == "web" and ticket.customer.email == "gao.yang@example.cn"
    assert ticket.messages[0].attachments[0].filename == "屏幕截图.png"
    [mail] = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == ("gao.yang@example.cn",)
    assert f"[#{ticket.id}]" in mail.message["Subject"]


def test_empty_message_is_shown_next_to_the_field_and_nothing_is_created(client, smtp_sink):
    response = _submit(client, message="")
    assert response.status_code == 200
    assert "Please describe your request." in response.text
    assert _ticket_count() == 0 and smtp_sink.messages == []


def test_bad_address_is_shown_next_to_the_field(client):
    response = _submit(client, email="not-an-address")
    assert "Please enter a valid email address." in response.text
    assert _ticket_count() == 0


def test_oversized_attachment_is_refused_with_a_message(client, app):
    app.config["MAX_ATTACHMENT_BYTES"] = 1024
    response = _submit(client, attachment=(io.BytesIO(b"x" * 2048), "big.log"))
    assert "too large" in response.text
    assert _ticket_count() == 0


def test_confirmation_page_is_only_for_the_browser_that_submitted(client, app):
    response = _submit(client)
    other_browser = app.test_client()
    assert other_browser.get(response.headers["Location"]).status_code == 302


def test_form_without_csrf_token_is_refused(client):
    response = client.post("/support", data=VALID)
    assert response.status_code == 400
    assert _ticket_count() == 0


def test_form_offers_the_help_centre_search_first(client):
    page = client.get("/support").text
    assert 'action="/help/search"' in page
