"""Vendor adapter throughput: records per second pulled from each vendor's local stub.

Each of the nine vendor adapters (``crm_bridge.adapters``) does an initial full load
(``pull(None)``) from its contract-faithful stub (``tests/crm_bridge/stubs``) over real HTTP on
127.0.0.1, with the page size at the vendor's cap (Salesforce 2,000, Kingdee 2,000, YonBIP
5,000, HubSpot and Zoho 200, the others 100). The stub runs in the same process, so its JSON
rendering competes with the adapter for the GIL: the figures are a lower bound for the adapter
alone, and show whether adapters could be the bottleneck of a 5,000 profiles/s initial sync.
Qidian has no list-with-details call, so it makes one request per customer.

One JSON object per line. Speed is measured, never asserted.

    .venv/bin/python benchmarks/crm_adapters.py            # 20,000 records per vendor
    .venv/bin/python benchmarks/crm_adapters.py --quick    # 2,000 records, well under a minute
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crm_bridge.adapters import build_adapter
from tests.crm_bridge.stubs.fixture import generated_customers
from tests.crm_bridge.stubs.harness import CASES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 records per vendor")
    parser.add_argument("--records", type=int, help="records per vendor (overrides --quick)")
    arguments = parser.parse_args()
    count = arguments.records or (2_000 if arguments.quick else 20_000)
    customers = generated_customers(count)
    for case in CASES:
        stub = case.stub(customers, token_uses=10**9).start()
        try:
            with httpx.Client(timeout=60) as http:
                adapter = build_adapter(case.vendor, case.config(stub), http)
                page_size = adapter.capabilities.max_page_size
                started = time.perf_counter()
                pulled = sum(len(page.changes) for page in adapter.pull(None, page_size=page_size))
                seconds = time.perf_counter() - started
        finally:
            stub.stop()
        print(json.dumps({
            "figure": "adapter_initial_pull", "vendor": case.vendor, "records": pulled,
            "page_size": page_size, "requests": len(stub.requests),
            "seconds": round(seconds, 3), "records_per_second": round(pulled / seconds),
            "load_average_1m": round(os.getloadavg()[0], 2)}), flush=True)


if __name__ == "__main__":
    main()
