"""addresses.py: normalisation refuses ambiguous addresses; plus tags split (pure)."""

from __future__ import annotations

import pytest

from channels.email.addresses import normalize_address, same_mailbox, split_plus, with_plus_tag


def test_addresses_are_lower_cased_and_unwrapped() -> None:
    assert normalize_address(" <Li.Wei@Example.COM> ") == "li.wei@example.com"


@pytest.mark.parametrize("address", [
    "", "no-at-sign", "two@@example.com", "a@b@example.com", '"a@ours.test"@evil.test',
    "trailing.@example.com", "space in@example.com", "user@localhost", "user@[127.0.0.1]",
])
def test_ambiguous_or_invalid_addresses_are_refused(address: str) -> None:
    assert normalize_address(address) is None


def test_plus_tags_split_and_join() -> None:
    assert split_plus("support+t1.abc@helpdesk.test").base == "support@helpdesk.test"
    assert split_plus("support+t1.abc@helpdesk.test").tag == "t1.abc"
    assert split_plus("support@helpdesk.test").tag is None
    assert with_plus_tag("support+old@helpdesk.test", "new") == "support+new@helpdesk.test"
    assert same_mailbox("Support+x@helpdesk.test", "support@helpdesk.test")
