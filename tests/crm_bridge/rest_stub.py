"""A small paginated REST/JSON customer endpoint on 127.0.0.1, for the generic REST source.

Real HTTP (``http.server`` in a thread). It filters ``updated_since`` inclusively, pages by
cursor, requires a bearer token, serves ``/customers/<id>`` (404 when gone), and can be told
to answer the next requests with 429 (``Retry-After``), 503 or 401, as real services do.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

TOKEN = "stub-token"


class CustomerStore:
    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.failures: list[tuple[int, dict[str, str]]] = []  # (status, headers) to answer next
        self.requests: list[str] = []
        self.lock = threading.Lock()

    def put(self, external_id: str, updated_at: datetime, **fields: Any) -> None:
        with self.lock:
            self.records[external_id] = {"id": external_id,
                                         "updated_at": updated_at.isoformat(), **fields}

    def remove(self, external_id: str) -> None:
        with self.lock:
            self.records.pop(external_id, None)

    def fail_next(self, status: int, times: int = 1, **headers: str) -> None:
        self.failures.extend([(status, headers)] * times)


def rest_settings(url: str, **overrides: Any) -> dict[str, Any]:
    return {"base_url": url, "path": "/customers", "records_path": "data", "id_field": "id",
            "updated_field": "updated_at", "pagination": "cursor", "size_param": "limit",
            "cursor_param": "cursor", "next_cursor_path": "next_cursor",
            "since_param": "updated_since", "item_path": "/customers/{id}", "page_size": 50,
            **overrides}


def _handler(store: CustomerStore) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            store.requests.append(self.path)
            if store.failures:
                status, headers = store.failures.pop(0)
                self._send(status, {"error": "stub failure"}, headers)
                return
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, {"error": "unauthorized"})
                return
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path.startswith("/customers/"):
                record = store.records.get(unquote(url.path.rsplit("/", 1)[1]))
                self._send(200 if record else 404, record or {"error": "not found"})
                return
            with store.lock:
                rows = sorted(store.records.values(), key=lambda r: r["id"])
            if "updated_since" in query:
                since = datetime.fromisoformat(query["updated_since"])
                rows = [r for r in rows if datetime.fromisoformat(r["updated_at"]) >= since]
            start = int(query.get("cursor", 0))
            limit = int(query.get("limit", 100))
            page = rows[start:start + limit]
            following = str(start + limit) if start + limit < len(rows) else None
            self._send(200, {"data": page, "next_cursor": following})

    return Handler


@contextmanager
def serve(store: CustomerStore) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(store))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def at(minute: int) -> datetime:
    return datetime(2026, 5, 1, 9, minute, tzinfo=UTC)
