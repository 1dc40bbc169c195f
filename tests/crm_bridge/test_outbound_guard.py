"""Admin-entered URLs (CRM endpoints, OAuth token URLs) never reach into our own network and
never follow redirects (Zammad CVE-2025-32358, Peppermint webhooks)."""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from flask import Flask

from channels.email.oauth import OAuthGrantRefused, refresh_access_token
from crm_bridge.models import CrmSyncRun
from crm_bridge.sync import run_sync
from helpdesk.db import db
from helpdesk.outbound_http import GuardedTransport, parse_networks
from tests.conftest import app_with_schema
from tests.crm_bridge.conftest import make_source
from tests.crm_bridge.rest_stub import CustomerStore
from tests.email.oauth_stub import oauth_provider
from tests.services import SmtpSink


@pytest.fixture
def closed_app(tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[Flask]:
    """An installation with the default setting: no private network allowed."""
    with app_with_schema(f"sqlite:///{tmp_path / 'helpdesk.sqlite'}", tmp_path, smtp_sink,
                         OUTBOUND_ALLOWED_NETWORKS="") as app:
        yield app


def _sync(source_id: int) -> CrmSyncRun:
    for _ in run_sync(source_id, sleep=lambda seconds: None):
        pass
    run = db.session.scalars(db.select(CrmSyncRun).order_by(CrmSyncRun.id.desc())).first()
    assert run is not None
    return run


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_crm_endpoint_inside_our_network_is_refused_before_any_request(
        closed_app: Flask, store: CustomerStore, stub_url: str, host: str) -> None:
    source = make_source(stub_url.replace("127.0.0.1", host))
    run = _sync(source.id)
    assert run.status == "failed"
    assert "private or local network" in (run.error or "")
    assert store.requests == []


def test_crm_endpoint_in_an_allowed_network_is_synced(any_db_app: Flask, store: CustomerStore,
                                                      stub_url: str) -> None:
    source = make_source(stub_url.replace("127.0.0.1", "localhost"))
    assert _sync(source.id).status == "ok"
    assert store.requests, "the allowed endpoint was called"


@contextmanager
def _server(handler: type[BaseHTTPRequestHandler],
            context: ssl.SSLContext | None = None) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        type(self).seen.append({"path": self.path, "host": self.headers.get("Host", "")})
        if self.path.startswith("/moved"):
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b'{"access_token": "fresh", "expires_in": 60}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


def test_guarded_request_keeps_the_host_name_for_the_server(app: Flask) -> None:
    _Recorder.seen = []
    with _server(_Recorder) as port:
        transport = GuardedTransport(parse_networks("127.0.0.0/8,::1"))
        with httpx.Client(transport=transport) as client:
            response = client.get(f"http://localhost:{port}/hello")
    assert response.status_code == 200
    assert str(response.request.url) == f"http://localhost:{port}/hello"
    assert _Recorder.seen == [{"path": "/hello", "host": f"localhost:{port}"}]


def test_oauth_token_url_inside_our_network_is_refused_without_a_request(
        closed_app: Flask) -> None:
    _Recorder.seen = []
    with _server(_Recorder) as port, pytest.raises(OAuthGrantRefused, match="not allowed"):
        refresh_access_token(f"http://127.0.0.1:{port}/token", "client", "secret", "refresh")
    assert _Recorder.seen == []
    with pytest.raises(OAuthGrantRefused, match="not allowed"):
        refresh_access_token("https://169.254.169.254/token", "client", "secret", "refresh")


def test_oauth_token_endpoint_redirect_is_not_followed(app: Flask) -> None:
    _Recorder.seen = []
    with _server(_Recorder) as port, pytest.raises(OSError, match="HTTP 302"):
        refresh_access_token(f"http://127.0.0.1:{port}/moved", "client", "secret", "refresh")
    assert [request["path"] for request in _Recorder.seen] == ["/moved"]


def test_oauth_refresh_through_the_guard_still_works(app: Flask) -> None:
    with oauth_provider() as provider:
        grant = provider.grant("support@example.com")
        token = refresh_access_token(provider.token_url, grant.client_id,
                                     grant.client_secret, grant.refresh_token)
    assert token.token in provider.tokens


@pytest.fixture(scope="module")
def localhost_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.mark.parametrize(("name", "verified"), [("localhost", True), ("127.0.0.1", False)])
def test_tls_through_the_guard_verifies_the_certificate_for_the_host_name(
        localhost_certificate: tuple[Path, Path], name: str, verified: bool) -> None:
    """The connection goes to the vetted address, yet the certificate is checked for the
    name in the URL (SNI): a certificate for ``localhost`` passes for ``localhost`` only."""
    cert, key = localhost_certificate
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    _Recorder.seen = []
    with _server(_Recorder, server_context) as port:
        transport = GuardedTransport(parse_networks("127.0.0.0/8,::1"),
                                     verify=ssl.create_default_context(cafile=str(cert)))
        with httpx.Client(transport=transport) as client:
            if verified:
                assert client.get(f"https://{name}:{port}/secure").status_code == 200
            else:
                with pytest.raises(httpx.ConnectError, match="certificate"):
                    client.get(f"https://{name}:{port}/secure")
