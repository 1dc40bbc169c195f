"""Adapters that write activities and decode signed webhooks, against their stubs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from crm_bridge.adapters import build_adapter
from crm_bridge.contract import AuthFailed, CrmSink, InteractionEvent, WebhookDecoder
from tests.crm_bridge.stubs.fixture import fixture_customers
from tests.crm_bridge.stubs.harness import CASES, VendorCase

PUSH_CASES = [case for case in CASES if case.vendor in
              ("salesforce", "hubspot", "zoho", "jiandaoyun")]
CASE = {case.vendor: case for case in CASES}


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.mark.parametrize("case", PUSH_CASES, ids=str)
def test_pushing_one_event_twice_leaves_one_activity(case: VendorCase, http: httpx.Client):
    stub = case.stub(fixture_customers()).start()
    try:
        sink = build_adapter(case.vendor, case.config(stub), http)
        assert isinstance(sink, CrmSink)
        event = InteractionEvent(
            idempotency_key="ticket:42:created",
            customer_external_id=stub.vendor_id(stub.customers["1001"]),
            kind="ticket_created", occurred_at=datetime(2025, 5, 6, 8, 0, tzinfo=UTC),
            subject="[#42] 发票抬头错误", body="请帮忙更正发票抬头。",
            ticket_url="http://helpdesk.test/console/tickets/42")

        first, second = sink.push_interaction(event), sink.push_interaction(event)

        assert (first.created, second.created) == (True, False)
        assert first.external_record_id == second.external_record_id
        assert len(stub.activities) == 1
    finally:
        stub.stop()


def hubspot_delivery(body: bytes, secret: str, url: str, at_ms: int) -> dict[str, str]:
    signature = base64.b64encode(hmac.new(secret.encode(), b"POST" + url.encode() + body
                                          + str(at_ms).encode(), hashlib.sha256).digest())
    return {"X-HubSpot-Signature-v3": signature.decode(),
            "X-HubSpot-Request-Timestamp": str(at_ms)}


def jiandaoyun_delivery(body: bytes, secret: str,
                        at_s: int) -> tuple[dict[str, str], dict[str, str]]:
    nonce = "a1b2c3"
    payload = f"{nonce}:{body.decode()}:{secret}:{at_s}".encode()
    signature = hashlib.sha1(payload).hexdigest()  # noqa: S324 - the vendor's scheme
    return ({"X-JDY-Signature": signature, "X-JDY-DeliverId": "deliver-1"},
            {"nonce": nonce, "timestamp": str(at_s)})


#: Decoding needs only the webhook secret (and HubSpot the URL it signs); no server.
WEBHOOK_CONFIG = {
    "hubspot": {"client_secret": "hs-app-secret", "webhook_url": "https://helpdesk.test/crm/hook"},
    "jiandaoyun": {"webhook_secret": "jdy-webhook-secret"},
}


def decoder(vendor: str) -> WebhookDecoder:
    adapter = build_adapter(vendor, WEBHOOK_CONFIG[vendor])
    assert isinstance(adapter, WebhookDecoder)
    return adapter


HUBSPOT_BODY = json.dumps([
    {"eventId": 101, "subscriptionType": "contact.propertyChange", "objectId": 51001,
     "occurredAt": 1746515289000, "propertyName": "customer_tier", "propertyValue": "VIP"},
    {"eventId": 102, "subscriptionType": "contact.deletion", "objectId": 51002,
     "occurredAt": 1746515290000}]).encode()
HUBSPOT_URL = WEBHOOK_CONFIG["hubspot"]["webhook_url"]


def test_hubspot_webhook_with_a_good_signature_becomes_hints():
    headers = hubspot_delivery(HUBSPOT_BODY, "hs-app-secret", HUBSPOT_URL,
                               int(time.time() * 1000))
    hints = decoder("hubspot").verify_and_decode(headers=headers, query={}, body=HUBSPOT_BODY)
    assert [(h.external_ids, h.op, h.delivery_id) for h in hints] == [
        (["51001"], "upsert", "101"), (["51002"], "delete", "102")]


@pytest.mark.parametrize("tamper", ["forged", "replayed", "body_changed"])
def test_hubspot_webhook_forged_or_replayed_is_refused(tamper: str):
    at_ms = int(time.time() * 1000) - (10 * 60 * 1000 if tamper == "replayed" else 0)
    secret = "not-the-secret" if tamper == "forged" else "hs-app-secret"
    headers = hubspot_delivery(HUBSPOT_BODY, secret, HUBSPOT_URL, at_ms)
    body = HUBSPOT_BODY.replace(b"VIP", b"SVIP") if tamper == "body_changed" else HUBSPOT_BODY
    with pytest.raises(AuthFailed):
        decoder("hubspot").verify_and_decode(headers=headers, query={}, body=body)


JDY_BODY = json.dumps({"op": "data_remove", "data": {"_id": "665f1c2e9a1b2c00000003e9",
                                                     "tier": "VIP"},
                       "opTime": 1746515289000}, ensure_ascii=False).encode()


def test_jiandaoyun_data_push_with_a_good_signature_becomes_a_delete_hint():
    headers, query = jiandaoyun_delivery(JDY_BODY, "jdy-webhook-secret", int(time.time()))
    [hint] = decoder("jiandaoyun").verify_and_decode(headers=headers, query=query, body=JDY_BODY)
    assert (hint.external_ids, hint.op, hint.delivery_id) == (
        ["665f1c2e9a1b2c00000003e9"], "delete", "deliver-1")


@pytest.mark.parametrize("tamper", ["forged", "replayed"])
def test_jiandaoyun_data_push_forged_or_replayed_is_refused(tamper: str):
    at_s = int(time.time()) - (3600 if tamper == "replayed" else 0)
    secret = "guess" if tamper == "forged" else "jdy-webhook-secret"
    headers, query = jiandaoyun_delivery(JDY_BODY, secret, at_s)
    with pytest.raises(AuthFailed):
        decoder("jiandaoyun").verify_and_decode(headers=headers, query=query, body=JDY_BODY)


def test_hubspot_search_beyond_its_result_cap_is_never_requested(http: httpx.Client):
    stub = CASE["hubspot"].stub(fixture_customers(), result_cap=12).start()
    try:
        adapter = build_adapter("hubspot", CASE["hubspot"].config(stub), http)
        ids = {c.external_id for page in adapter.pull(None, page_size=4) for c in page.changes
               if c.op == "upsert"}
        assert ids == stub.vendor_ids()
    finally:
        stub.stop()


def test_zoho_reads_past_the_page_number_limit_with_page_tokens(http: httpx.Client):
    stub = CASE["zoho"].stub(fixture_customers(), page_number_limit=4).start()
    try:
        adapter = build_adapter("zoho", CASE["zoho"].config(stub), http)
        ids = {c.external_id for page in adapter.pull(None, page_size=2) for c in page.changes
               if c.op == "upsert"}
        assert ids == stub.vendor_ids()  # the 10-record burst spans more than 4 records
    finally:
        stub.stop()
