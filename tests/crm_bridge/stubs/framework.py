"""A small framework for contract-faithful CRM stubs: real HTTP on 127.0.0.1.

A vendor stub subclasses :class:`StubCrm` and supplies its URL rules, how a request carries its
token, the vendor's exact "token expired" and "throttled" answers, and how a customer looks in
its API. The framework supplies the rest: a werkzeug server in a thread, a controllable clock
(the HTTP ``Date`` header follows it too), tokens that expire after ``token_uses`` requests
(``stale_tokens``: the next ones are expired on arrival), a throttle switch
(``stub.throttle = 1`` answers the next data request with the vendor's throttling envelope),
a request log, edits and deletes that stamp the clock, and a store of pushed activities.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, ClassVar

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.crm_bridge.stubs.fixture import StubCustomer


def iso_z(moment: datetime) -> str:
    """``2025-05-06T07:08:09.123Z``, written independently of the adapters' helpers."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, headers=headers,
                    content_type="application/json; charset=utf-8")


class StubCrm:
    """One vendor's API over a set of customers. Subclasses set ``vendor`` and the hooks."""

    vendor: ClassVar[str]
    #: Endpoints that need no token (token endpoints).
    public: ClassVar[frozenset[str]] = frozenset({"token"})

    def __init__(self, customers: Iterable[StubCustomer], *, token_uses: int = 10_000) -> None:
        self.customers: dict[str, StubCustomer] = {c.id: c for c in customers}
        self.deleted: dict[str, datetime] = {}
        self.now = max(c.updated_at for c in self.customers.values()) + timedelta(hours=1)
        self.token_uses = token_uses
        self.tokens: dict[str, int] = {}
        self.tokens_issued = 0
        #: How many of the next tokens issued are already spent (expired on arrival), so a
        #: sync of a single request still meets an expired token.
        self.stale_tokens = 0
        self.throttle = 0
        self.requests: list[str] = []
        self.activities: dict[str, dict[str, Any]] = {}
        self.lock = threading.RLock()
        self.url_map = Map(self.rules())
        self._server: BaseWSGIServer | None = None
        self.url = ""

    # Vendor hooks ------------------------------------------------------------------------------

    def rules(self) -> list[Rule]:
        raise NotImplementedError

    def token_of(self, request: Request) -> str | None:
        header = request.headers.get("Authorization", "")
        return header.removeprefix("Bearer ") or None

    def token_refused(self, expired: bool) -> Response:
        raise NotImplementedError

    def throttled(self) -> Response:
        raise NotImplementedError

    def vendor_id(self, customer: StubCustomer) -> str:
        return customer.id

    # Test controls -----------------------------------------------------------------------------

    def tick(self, seconds: float = 1.5) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def edit(self, customer_id: str, **changes: Any) -> None:
        with self.lock:
            customer = self.customers[customer_id]
            for name, value in changes.items():
                setattr(customer, name, value)
            customer.updated_at = self.tick()

    def delete(self, customer_id: str) -> None:
        with self.lock:
            self.customers.pop(customer_id)
            self.deleted[customer_id] = self.tick()

    def live(self) -> list[StubCustomer]:
        """Live customers ordered by (modified, id), the order most APIs sort in."""
        return sorted(self.customers.values(), key=lambda c: (c.updated_at, int(c.id)))

    def by_vendor_id(self, vendor_id: str) -> StubCustomer | None:
        return next((c for c in self.customers.values() if self.vendor_id(c) == vendor_id), None)

    def vendor_ids(self) -> set[str]:
        return {self.vendor_id(c) for c in self.customers.values()}

    def issue_token(self) -> str:
        self.tokens_issued += 1
        token = f"{self.vendor}-token-{self.tokens_issued}"
        self.tokens[token] = 0 if self.stale_tokens > 0 else self.token_uses
        self.stale_tokens = max(0, self.stale_tokens - 1)
        return token

    # Server ------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        try:
            endpoint, arguments = self.url_map.bind_to_environ(environ).match()
        except HTTPException as error:
            return error(environ, start_response)
        with self.lock:
            self.requests.append(f"{request.method} {request.path}")
            response = self._dispatch(str(endpoint), request, arguments)
        return response(environ, start_response)

    def _dispatch(self, endpoint: str, request: Request, arguments: dict[str, Any]) -> Response:
        handler: Callable[..., Response] = getattr(self, endpoint)
        if endpoint in self.public:
            return handler(request, **arguments)
        token = self.token_of(request)
        remaining = self.tokens.get(token or "")
        if remaining is None or remaining <= 0:
            return self.token_refused(expired=remaining is not None)
        self.tokens[token or ""] = remaining - 1
        if self.throttle > 0:
            self.throttle -= 1
            return self.throttled()
        return handler(request, **arguments)

    def start(self) -> StubCrm:
        stub = self

        class Handler(WSGIRequestHandler):
            def date_time_string(self, timestamp: float | None = None) -> str:
                return format_datetime(stub.now, usegmt=True)

            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass

        self._server = make_server("127.0.0.1", 0, self, threaded=True, request_handler=Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True,
                         name=f"stub-{self.vendor}").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> StubCrm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
