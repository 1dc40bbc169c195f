"""A local OAuth 2 provider for XOAUTH2 tests, and a Dovecot that checks tokens with it.

The stub follows the documented contracts of what a mail provider runs: a token endpoint
(RFC 6749 §6 refresh grant, §5.1 success and §5.2 error answers) and a token introspection
endpoint (RFC 7662), which Dovecot's ``passdb oauth2`` calls for every XOAUTH2 login.
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.services import DovecotServer


@dataclass
class Grant:
    user: str
    client_id: str
    client_secret: str
    refresh_token: str
    revoked: bool = False


@dataclass
class OAuthProvider:
    """Issues access tokens for refresh tokens it knows; answers introspection."""

    expires_in: int = 3600
    grants: dict[str, Grant] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> user
    refreshes: int = 0
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def grant(self, user: str) -> Grant:
        grant = Grant(user, f"client-{secrets.token_hex(3)}", secrets.token_hex(8),
                      f"refresh-{secrets.token_hex(8)}")
        self.grants[grant.refresh_token] = grant
        return grant

    def revoke_access_tokens(self) -> None:
        """Invalidate every access token issued so far (the provider rotated its keys)."""
        with self._lock:
            self.tokens.clear()

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant = self.grants.get(form.get("refresh_token", ""))
        if form.get("grant_type") != "refresh_token" or grant is None or grant.revoked:
            return 400, {"error": "invalid_grant",
                         "error_description": "refresh token revoked or unknown"}
        if (form.get("client_id"), form.get("client_secret")) != (grant.client_id,
                                                                 grant.client_secret):
            return 401, {"error": "invalid_client"}
        token = f"access-{secrets.token_hex(12)}"
        with self._lock:
            self.tokens[token] = grant.user
            self.refreshes += 1
        return 200, {"access_token": token, "token_type": "Bearer",
                     "expires_in": self.expires_in}

    def _introspect(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            user = self.tokens.get(form.get("token", ""))
        if user is None:
            return 200, {"active": False}
        return 200, {"active": True, "username": user}

    def handle(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if path == "/token":
            return self._token(form)
        if path == "/introspect":
            return self._introspect(form)
        return 404, {"error": "not_found"}


@contextmanager
def oauth_provider() -> Iterator[OAuthProvider]:
    provider = OAuthProvider()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            status, body = provider.handle(self.path, form)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    provider.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()


class OAuthDovecotServer(DovecotServer):
    """Dovecot that also takes XOAUTH2 logins, checking tokens at the provider (RFC 7662).

    Password logins still work (``passdb oauth2`` first; a password is no active token, so
    Dovecot falls through to the passwd-file), which the test helpers use to deliver mail.
    """

    def __init__(self, directory: Any, introspection_url: str, **kwargs: Any) -> None:
        self.introspection_url = introspection_url
        super().__init__(directory, **kwargs)

    def _config(self) -> str:
        assert self.runtime_dir is not None  # readable by Dovecot's unprivileged auth process
        oauth_conf = self.runtime_dir / "dovecot-oauth2.conf.ext"
        oauth_conf.write_text(
            f"introspection_url = {self.introspection_url}\n"
            "introspection_mode = post\n"
            "username_attribute = username\n"
            "active_attribute = active\n"
            "active_value = true\n")
        oauth_conf.chmod(0o644)
        config = super()._config()
        config = config.replace("auth_mechanisms = plain login",
                                "auth_mechanisms = plain login xoauth2 oauthbearer")
        passdb = f"passdb {{\n  driver = oauth2\n  args = {oauth_conf}\n}}\n"
        return config.replace("passdb {", passdb + "passdb {", 1)
