"""Every vendor adapter against its local stub: the contract of ``crm_bridge.contract``.

Each test runs once per vendor (``CASES`` in ``stubs/harness.py``) over real HTTP on
127.0.0.1. The stub renders the shared fixture in the vendor's own shapes, envelopes, paging,
timestamp formats, token expiry and throttling answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from crm_bridge.adapters import ADAPTERS, build_adapter
from crm_bridge.adapters.timestamps import parse_iso
from crm_bridge.contract import (
    ChangePage,
    CrmSink,
    CrmSource,
    DeleteSignal,
    RateLimited,
    RawChange,
    Watermark,
    WebhookDecoder,
)
from tests.crm_bridge.stubs.fixture import (
    BURST_IDS,
    StubCustomer,
    fixture_customers,
    generated_customers,
)
from tests.crm_bridge.stubs.framework import StubCrm
from tests.crm_bridge.stubs.harness import CASES, VendorCase


@pytest.fixture(params=CASES, ids=str)
def case(request: pytest.FixtureRequest) -> VendorCase:
    return request.param


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def serve(case: VendorCase, customers: list[StubCustomer], **options: object) -> StubCrm:
    return case.stub(customers, **options).start()


@pytest.fixture
def stub(case: VendorCase) -> Iterator[StubCrm]:
    server = serve(case, fixture_customers())
    yield server
    server.stop()


def adapter_for(case: VendorCase, stub: StubCrm, http: httpx.Client) -> CrmSource:
    return build_adapter(case.vendor, case.config(stub), http)


def drain(pages: Iterator[ChangePage]) -> tuple[list[RawChange], Watermark]:
    changes: list[RawChange] = []
    watermark = None
    for page in pages:
        changes.extend(page.changes)
        watermark = page.next_watermark
    assert watermark is not None
    return changes, watermark


def upserted_ids(changes: list[RawChange]) -> set[str]:
    return {c.external_id for c in changes if c.op == "upsert"}


def test_full_load_returns_every_customer_with_its_time_in_utc(case, stub, http):
    adapter = adapter_for(case, stub, http)
    changes, _ = drain(adapter.pull(None))

    assert upserted_ids(changes) == stub.vendor_ids()
    resolution = timedelta(milliseconds=adapter.capabilities.timestamp_resolution_ms)
    for change in changes:
        customer = stub.by_vendor_id(change.external_id)
        assert customer is not None and change.raw
        if change.updated_at is not None:  # None only for full-scan sources
            assert change.updated_at.utcoffset() == timedelta(0)
            assert abs(change.updated_at - customer.updated_at) < resolution


def test_incremental_pull_after_edits_returns_the_edited_customers(case, stub, http):
    adapter = adapter_for(case, stub, http)
    _, watermark = drain(adapter.pull(None))
    edited = {"1003", "1015", "1027"}  # 1015 is in the bulk-import burst
    for customer_id in sorted(edited):
        stub.edit(customer_id, tier="VIP")

    changes, _ = drain(adapter.pull(watermark))

    edited_vendor_ids = {stub.vendor_id(stub.customers[cid]) for cid in edited}
    returned = upserted_ids(changes)
    assert edited_vendor_ids <= returned
    if adapter.capabilities.server_side_since:
        # Anything else returned must be an overlap re-read just behind the watermark.
        assert watermark.value is not None
        capabilities = adapter.capabilities
        floor = parse_iso(watermark.value) - timedelta(
            milliseconds=capabilities.overlap_ms + capabilities.timestamp_resolution_ms)
        for vendor_id in returned - edited_vendor_ids:
            customer = stub.by_vendor_id(vendor_id)
            assert customer is not None and customer.updated_at >= floor, vendor_id


def test_deletes_surface_as_the_capabilities_promise(case, stub, http):
    adapter = adapter_for(case, stub, http)
    _, watermark = drain(adapter.pull(None))
    gone = stub.vendor_id(stub.customers["1008"])
    stub.delete("1008")

    changes, _ = drain(adapter.pull(watermark))

    if adapter.capabilities.delete_signal is DeleteSignal.IN_PULL:
        assert [c.external_id for c in changes if c.op == "delete"] == [gone]
    else:
        assert gone not in {c.external_id for c in changes if c.op == "upsert"}
    assert set(adapter.list_ids()) == stub.vendor_ids()


@pytest.mark.parametrize("case", [c for c in CASES if c.token_expires], ids=str)
def test_expired_tokens_are_refreshed_without_the_caller_noticing(case, http):
    stub = serve(case, generated_customers(450), token_uses=2)
    try:
        adapter = adapter_for(case, stub, http)
        changes, _ = drain(adapter.pull(None, page_size=100))
        assert upserted_ids(changes) == stub.vendor_ids()
        assert stub.tokens_issued > 1
    finally:
        stub.stop()


def test_throttling_surfaces_as_rate_limited_with_the_vendor_wait(case, stub, http):
    adapter = adapter_for(case, stub, http)
    stub.throttle = 1

    with pytest.raises(RateLimited) as raised:
        drain(adapter.pull(None))

    assert (raised.value.retry_after_s, raised.value.scope) == (case.throttle_wait,
                                                                case.throttle_scope)
    changes, _ = drain(adapter.pull(None))  # the caller waited; the next run is whole
    assert upserted_ids(changes) == stub.vendor_ids()


def test_resuming_from_a_saved_watermark_after_a_crash_loses_nothing(case, http):
    stub = serve(case, generated_customers(450))
    try:
        adapter = adapter_for(case, stub, http)
        seen: set[str] = set()
        pages = adapter.pull(None, page_size=100)
        for _ in range(2):  # two pages applied and their watermark committed, then a crash
            page = next(pages)
            seen |= upserted_ids(list(page.changes))
            saved = page.next_watermark
        pages.close()
        first_read = stub.vendor_id(stub.customers["1001"])
        stub.edit("1001", tier="VIP")  # changed behind the crashed run's position

        resumed, final = drain(adapter.pull(Watermark.from_json(saved.to_json()), page_size=100))
        seen |= upserted_ids(resumed)
        assert seen == stub.vendor_ids()

        later, _ = drain(adapter.pull(final, page_size=100))
        assert first_read in upserted_ids(resumed) | upserted_ids(later)
    finally:
        stub.stop()


def test_fetch_returns_the_given_ids_and_missing_ones_as_deletes(case, stub, http):
    adapter = adapter_for(case, stub, http)
    wanted = stub.vendor_id(stub.customers["1012"])
    missing = stub.vendor_id(stub.customers["1013"])
    stub.delete("1013")

    changes = {c.external_id: c for c in adapter.fetch([wanted, missing])}

    assert changes[wanted].op == "upsert" and changes[wanted].raw
    assert changes[missing].op == "delete"
    assert set(changes) == {wanted, missing}


def test_describe_lists_the_field_catalogue(case, stub, http):
    fields = adapter_for(case, stub, http).describe()
    assert len(fields) >= 5
    assert all({"name", "label", "type"} <= set(field) for field in fields)


def test_capability_flags_match_what_the_adapter_implements(case, stub, http):
    adapter = adapter_for(case, stub, http)
    assert case.vendor in ADAPTERS and adapter.vendor == case.vendor
    assert isinstance(adapter, CrmSource)
    assert adapter.capabilities.can_push == isinstance(adapter, CrmSink)
    assert adapter.capabilities.has_webhooks == isinstance(adapter, WebhookDecoder)


def test_burst_of_equal_timestamps_is_read_once_even_across_pages(case, stub, http):
    adapter = adapter_for(case, stub, http)
    changes, _ = drain(adapter.pull(None, page_size=4))
    burst = [c.external_id for c in changes
             if c.op == "upsert" and stub.by_vendor_id(c.external_id).id in BURST_IDS]
    assert sorted(burst) == sorted(stub.vendor_id(stub.customers[cid]) for cid in BURST_IDS)
