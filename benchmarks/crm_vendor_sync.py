"""Vendor sources end to end: each vendor's example mapping, and its sync into SQLite.

For each of the nine vendors (``tests/crm_bridge/stubs/harness.py``):

1. ``mapping``: records/s of ``map_record`` with the vendor's example mapping
   (``crm_bridge/examples/<vendor>.json``) over raw records pulled once from its stub: the
   cost of the declarative mapping alone (paths, E.164 phones, times, value maps, names).
2. ``initial_sync``: profiles/s of a first sync, as the ``crm`` job runs it (``run_sync``: one
   transaction per page with the watermark), from the vendor's stub over real HTTP on
   127.0.0.1 into a fresh SQLite file, with the example mapping and the adapter's page size.
3. ``incremental_sync``: seconds for the next sync after 1% of the customers changed at the
   CRM, with how many records it read: a full-scan source (Qidian) reads them all.

The stub runs in the same process (a thread), so its JSON rendering competes with the bridge
for the GIL; figures are lower bounds. One JSON object per line; speed is never asserted.

    .venv/bin/python benchmarks/crm_vendor_sync.py            # 5,000 customers per vendor
    .venv/bin/python benchmarks/crm_vendor_sync.py --quick    # 500, well under a minute
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crm_bridge.adapters import build_adapter  # noqa: E402
from crm_bridge.mapping import map_record, parse_mapping  # noqa: E402
from crm_bridge.models import CrmSource  # noqa: E402
from crm_bridge.sync import Totals, run_sync  # noqa: E402
from helpdesk.app import create_app  # noqa: E402
from helpdesk.db import db  # noqa: E402
from tests.crm_bridge.stubs.fixture import generated_customers  # noqa: E402
from tests.crm_bridge.stubs.framework import StubCrm  # noqa: E402
from tests.crm_bridge.stubs.harness import CASES, VendorCase  # noqa: E402

EXAMPLES = ROOT / "crm_bridge" / "examples"
#: Times each mapping pass is repeated, so small fixtures still time a few hundred ms.
MAPPING_ROUNDS = 20


def emit(figure: str, vendor: str, **values: Any) -> None:
    print(json.dumps({"figure": figure, "vendor": vendor, **values,
                      "load_average_1m": round(os.getloadavg()[0], 2)}), flush=True)


def example_mapping(vendor: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{vendor}.json").read_text(encoding="utf-8"))
    return data


def mapping_figure(case: VendorCase, stub: StubCrm) -> None:
    with httpx.Client(timeout=60) as http:
        adapter = build_adapter(case.vendor, case.config(stub), http)
        raws = [change.raw for page in adapter.pull(None) for change in page.changes]
    mapping = parse_mapping(example_mapping(case.vendor))
    started = time.perf_counter()
    for _ in range(MAPPING_ROUNDS):
        for raw in raws:
            map_record(raw, mapping)
    seconds = time.perf_counter() - started
    emit("mapping_records_per_second", case.vendor,
         value=round(len(raws) * MAPPING_ROUNDS / seconds), unit="records/s",
         records=len(raws) * MAPPING_ROUNDS)


def sync(source_id: int) -> tuple[Totals, float]:
    started = time.perf_counter()
    final = Totals()
    for totals in run_sync(source_id):
        final = totals
    return final, time.perf_counter() - started


def sync_figures(case: VendorCase, stub: StubCrm, count: int, directory: Path) -> None:
    app = create_app({"SECRET_KEY": "bench", "JOBS_MODE": "eager",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{directory / case.vendor}.sqlite",
                      "ATTACHMENT_DIR": str(directory / "files"), "RATELIMIT_ENABLED": False,
                      "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8"})
    with app.app_context():
        db.create_all()
        source = CrmSource(name=f"{case.vendor}-crm", kind=case.vendor,
                           settings=case.config(stub), mapping=example_mapping(case.vendor))
        db.session.add(source)
        db.session.commit()
        final, seconds = sync(source.id)
        assert (final.status, final.created) == ("ok", count), final
        emit("initial_sync_profiles_per_second", case.vendor, value=round(count / seconds),
             unit="profiles/s", profiles=count, seconds=round(seconds, 2))
        changed = sorted(stub.customers)[:: 100]  # 1%
        for customer_id in changed:
            stub.edit(customer_id, company="杭州示例材料有限公司")
        final, seconds = sync(source.id)
        assert final.status == "ok", final
        emit("incremental_sync_1pct_seconds", case.vendor, value=round(seconds, 3), unit="s",
             profiles=count, changed=len(changed), updated=final.updated, read=final.records)
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 customers per vendor")
    parser.add_argument("--customers", type=int, help="customers per vendor (overrides --quick)")
    arguments = parser.parse_args()
    # generated_customers() writes phones as 4-digit suffixes: at most 9,999 customers.
    count = min(arguments.customers or (500 if arguments.quick else 5_000), 9_999)
    with tempfile.TemporaryDirectory() as directory:
        for case in CASES:
            stub = case.stub(generated_customers(count), token_uses=10**9).start()
            try:
                mapping_figure(case, stub)
                sync_figures(case, stub, count, Path(directory))
            finally:
                stub.stop()


if __name__ == "__main__":
    main()
