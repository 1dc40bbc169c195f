"""The public survey page reached from the invitation email."""

import re

from sqlalchemy import select

from helpdesk.actors import SYSTEM
from helpdesk.customers.operations import find_or_create_customer
from helpdesk.db import db
from helpdesk.surveys.models import SurveyInvitation
from helpdesk.tickets.operations import open_ticket, update_ticket
from tests.conftest import csrf_token, login


def _survey_path(smtp_sink):
    customer = find_or_create_customer("fay@example.com", "Fay")
    ticket = open_ticket(
        SYSTEM,
        customer=customer,
        subject="Login loop",
        body_text="b",
        channel="web",
        acknowledge=False,
    )
    update_ticket(SYSTEM, ticket, status="solved")
    db.session.commit()
    body = smtp_sink.wait_for(1)[0].message.get_body(("plain",)).get_content()
    return ticket, re.search(r"http://helpdesk\.test(/survey/[^\s?]+)\?rating=4", body).group(1)


def test_customer_rates_and_the_rating_shows_on_the_ticket(client, agent, smtp_sink):
    ticket, path = _survey_path(smtp_sink)
    page = client.get(path + "?rating=4")
    assert re.search(r'<input checked[^>]*value="4"', page.text)
    response = client.post(
        path, data={"rating": "4", "comment": "Quick and kind", "csrf_token": csrf_token(page.text)}
    )
    assert "Thank you" in response.text
    login(client, agent.email)
    ticket_page = client.get(f"/console/tickets/{ticket.id}").text
    assert "4/5" in ticket_page and "Quick and kind" in ticket_page
    assert "Quick and kind" in client.get("/console/reports/csat").text


def test_survey_without_rating_shows_an_error(client, smtp_sink):
    _, path = _survey_path(smtp_sink)
    page = client.get(path)
    response = client.post(path, data={"csrf_token": csrf_token(page.text)})
    assert "Please choose a rating." in response.text
    assert db.session.scalar(select(SurveyInvitation.rating)) is None


def test_tampered_survey_link_is_not_found(client, smtp_sink):
    _, path = _survey_path(smtp_sink)
    assert client.get(path[:-3] + "xyz").status_code == 404
