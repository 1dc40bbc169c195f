"""Fixtures for the sync loop: a REST stub with customers and a source pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm_bridge.models import CrmSource
from helpdesk.db import db
from tests.crm_bridge.rest_stub import TOKEN, CustomerStore, rest_settings, serve

MAPPING = {
    "default_region": "CN",
    "helpdesk_owned": ["tags"],
    "fields": {
        "email": "email", "emails": "other_emails", "name": "name",
        "phone": {"from": "mobile", "transforms": ["e164"]},
        "company": "company.name",
        "tier": {"from": "level", "map": {"A类客户": "VIP", "B类客户": "Standard"}},
        "owner": "owner", "tags": {"from": "labels", "transforms": ["split:,"]},
    },
}


@pytest.fixture
def store() -> CustomerStore:
    return CustomerStore()


@pytest.fixture
def stub_url(store: CustomerStore) -> Iterator[str]:
    with serve(store) as url:
        yield url


def make_source(url: str, name: str = "stub-crm", **settings: object) -> CrmSource:
    source = CrmSource(name=name, kind="rest", settings=rest_settings(url, **settings),
                       secrets={"token": TOKEN, "webhook_secret": "hook-secret"},
                       mapping=MAPPING,
                       record_url_template="https://crm.example.com/customers/{external_id}")
    db.session.add(source)
    db.session.commit()
    return source
