"""HTTP to addresses admins type in (CRM endpoints, OAuth token URLs), never into our network.

An admin-entered URL is a request the server makes on someone's behalf: pointed at
``169.254.169.254`` it reads the cloud's credentials, at ``localhost:6379`` it talks to our
Redis (Zammad CVE-2025-32358 got there through redirects; Peppermint through webhooks). So
every such request goes through :func:`guarded_client`, which

* follows no redirects (a public endpoint cannot bounce us inside),
* ignores proxy settings from the environment (the check must see the real destination),
* connects only to public addresses, checked on the address it actually connects to: the
  name is resolved once, every address it resolves to is checked, and the connection goes to
  the checked address (TLS still verifies the certificate for the name), so a name that
  resolves inside cannot slip through and a second lookup cannot rebind it.

Installations whose CRM runs on their own network (on-premise Kingdee or Yonyou) allow those
networks explicitly with ``HELPDESK_OUTBOUND_ALLOWED_NETWORKS``.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class DestinationRefused(httpx.TransportError):
    """The URL leads to an address inside a private, loopback or otherwise special network."""


def parse_networks(text: str | Iterable[str] | None) -> list[Network]:
    """Networks from ``"10.1.0.0/16, 192.168.5.7"`` or a list; ValueError names a bad one."""
    items = text.split(",") if isinstance(text, str) else list(text or ())
    return [ipaddress.ip_network(item.strip(), strict=False) for item in items if item.strip()]


def permitted(address: Address, allowed: Sequence[Network]) -> bool:
    """Public unicast addresses, and whatever the installation allowed explicitly."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(address in network for network in allowed):
        return True
    return address.is_global and not address.is_multicast


def vet_destination(host: str, port: int, allowed: Sequence[Network]) -> str:
    """The address to connect to for ``host``; :class:`DestinationRefused` when any address
    the name resolves to is not :func:`permitted` (one bad answer is enough: the connection
    could go to it)."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise httpx.ConnectError(f"cannot resolve {host!r}: {error}") from error
    addresses = [ipaddress.ip_address(str(answer[4][0]).split("%")[0]) for answer in answers]
    for address in addresses:
        if not permitted(address, allowed):
            raise DestinationRefused(
                f"{host} is {address}, inside a private or local network; allow it with "
                "HELPDESK_OUTBOUND_ALLOWED_NETWORKS if this service is really yours")
    return str(addresses[0])


class GuardedTransport(httpx.BaseTransport):
    """Sends each request to the vetted address of its host; one pool per host name, so a
    connection verified for one name is never reused for another name on the same address."""

    def __init__(self, allowed: Sequence[Network], verify: ssl.SSLContext | bool = True) -> None:
        self._allowed = list(allowed)
        self._verify = verify
        self._transports: dict[str, httpx.HTTPTransport] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        address = vet_destination(host, port, self._allowed)
        extensions = dict(request.extensions)
        if request.url.scheme == "https":
            extensions["sni_hostname"] = host
        # The Host header was set from the original URL and stays.
        direct = httpx.Request(request.method, request.url.copy_with(host=address),
                               headers=request.headers, stream=request.stream,
                               extensions=extensions)
        transport = self._transports.get(host)
        if transport is None:
            transport = httpx.HTTPTransport(verify=self._verify, trust_env=False)
            self._transports[host] = transport
        response = transport.handle_request(direct)
        response.request = request
        return response

    def close(self) -> None:
        for transport in self._transports.values():
            transport.close()
        self._transports.clear()


def guarded_client(config: Mapping[str, Any], timeout: float) -> httpx.Client:
    """An httpx client for admin-entered URLs (see the module docstring); ``config`` is the
    app's, for the networks the installation allows."""
    allowed = parse_networks(config.get("OUTBOUND_ALLOWED_NETWORKS"))
    return httpx.Client(transport=GuardedTransport(allowed), timeout=timeout,
                        follow_redirects=False, trust_env=False)
