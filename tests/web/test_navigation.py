"""The console's top bar: agents' daily links first, settings in one Admin menu."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from helpdesk.auth.models import Agent
from tests.conftest import login


def _bar(page: str) -> str:
    match = re.search(r'<nav class="mainnav">(.*?)</nav>', page, re.S)
    assert match is not None
    return match.group(1)


def test_tickets_come_first_and_settings_sit_in_the_admin_menu(client: FlaskClient,
                                                               admin: Agent) -> None:
    login(client, admin.email)
    bar = _bar(client.get("/console/").text)
    links = re.findall(r">([^<>]+?)(?: <span|</a>)", bar)
    assert links[0] == "Tickets"
    top, menu = bar.split('<details class="adminmenu">')
    for setting in ("SLA settings", "Mailboxes", "CRM sources", "Agents", "Routing"):
        assert setting in menu and setting not in top
    assert "Satisfaction" in top


def test_agents_see_no_admin_menu(client: FlaskClient, agent: Agent) -> None:
    login(client, agent.email)
    bar = _bar(client.get("/console/").text)
    assert "adminmenu" not in bar and "SLA settings" not in bar
    assert "Tickets" in bar


def test_admin_menu_is_marked_active_on_a_settings_page(client: FlaskClient,
                                                        admin: Agent) -> None:
    login(client, admin.email)
    bar = _bar(client.get("/console/crm/review").text)
    assert '<summary class="active">' in bar
    assert '<summary class="active">' not in _bar(client.get("/console/").text)
