"""Which destinations admin-entered URLs may reach (helpdesk/outbound_http.py)."""

from __future__ import annotations

import ipaddress

import pytest

from helpdesk.outbound_http import DestinationRefused, parse_networks, permitted, vet_destination


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.0.0.5", "172.16.3.4", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
])
def test_private_loopback_link_local_and_special_addresses_are_refused(address: str) -> None:
    assert not permitted(ipaddress.ip_address(address), [])
    with pytest.raises(DestinationRefused, match="private or local network"):
        vet_destination(address, 443, [])


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
def test_public_addresses_are_permitted(address: str) -> None:
    assert vet_destination(address, 443, []) == address


def test_a_name_is_checked_on_the_addresses_it_resolves_to() -> None:
    with pytest.raises(DestinationRefused, match="localhost is"):
        vet_destination("localhost", 80, [])


def test_explicitly_allowed_networks_are_reachable_and_only_they() -> None:
    allowed = parse_networks("10.8.0.0/16, 192.168.5.7")
    assert permitted(ipaddress.ip_address("10.8.200.1"), allowed)
    assert permitted(ipaddress.ip_address("192.168.5.7"), allowed)
    assert not permitted(ipaddress.ip_address("10.9.0.1"), allowed)
    assert not permitted(ipaddress.ip_address("192.168.5.8"), allowed)


def test_a_malformed_allowed_network_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"10\.0\.0\.0/33"):
        parse_networks("10.0.0.0/33")
