"""The cheap email shape check never accepts what email_validator would refuse."""

from __future__ import annotations

import random

import pytest
from email_validator import EmailNotValidError, validate_email

from crm_bridge.email_syntax import is_plain_email
from crm_bridge.mapping import MappingError, map_record, parse_mapping

WORD_CHARS = "abcXYZ0189_+-"
LABEL_CHARS = "abcXYZ0189-"
TOP_LEVEL = ["com", "Cn", "co.uk", "c0m", "x", "123", "local", "test", "onion", "localhost",
             "arpa", "invalid", "xn--p1ai", "example"]
#: Spliced into otherwise plain addresses: each is invalid or unusual somewhere.
ODD_PIECES = [".", "..", "-", "--", "xn--", "@", " ", '"', "!", "#", "é", "用户", "例", "_",
              "\n", "x" * 64]


def _word(rng: random.Random, chars: str, longest: int) -> str:
    return "".join(rng.choice(chars) for _ in range(rng.randint(1, longest)))


def _generated_address(rng: random.Random) -> str:
    local = ".".join(_word(rng, WORD_CHARS, 8) for _ in range(rng.randint(1, 3)))
    labels = [_word(rng, LABEL_CHARS, 10) for _ in range(rng.randint(1, 3))]
    address = f"{local}@{'.'.join([*labels, rng.choice(TOP_LEVEL)])}"
    for _ in range(rng.choice((0, 0, 1, 2))):
        at = rng.randint(0, len(address))
        address = address[:at] + rng.choice(ODD_PIECES) + address[at:]
    return address


def test_every_address_the_shape_check_accepts_email_validator_accepts_too():
    rng = random.Random(20261122)
    accepted = 0
    for _ in range(20_000):
        address = _generated_address(rng)
        if is_plain_email(address):
            accepted += 1
            result = validate_email(address, check_deliverability=False)
            assert result.normalized.lower() == address.lower(), address
    # The comparison only means something if both outcomes were exercised.
    assert 1_000 < accepted < 19_000


@pytest.mark.parametrize("address", [
    "Customer1@Example.com", "first.last+tag@mail.example.co.uk", "x_y-z@sub-domain.example.cn",
    "a@b.io", f"{'l' * 64}@example.com", f"a@{'d' * 63}.com",
])
def test_common_addresses_skip_the_full_check(address):
    assert is_plain_email(address)


@pytest.mark.parametrize("address", [
    "a..b@example.com", ".a@example.com", "a.@example.com", "a@-example.com",
    "a@example-.com", "a@ab--cd.com", "a@xn--ls8h.la", "a@localhost", "a@host.local",
    "a@shop.test", "a@hidden.onion", "a@example.123", "a@b", f"{'l' * 65}@example.com",
    f"a@{'d' * 64}.com", f"a@{'d.' * 125}com", "用户@例子.中国", "a b@example.com",
    '"a"@example.com', "a@[127.0.0.1]",
])
def test_unusual_or_invalid_addresses_go_to_the_full_check(address):
    assert not is_plain_email(address)


@pytest.mark.parametrize("address", ["a..b@example.com", "a@ab--cd.com", "a@shop.test",
                                     "a@-example.com"])
def test_a_record_with_an_invalid_address_is_still_refused_with_the_reason(address):
    mapping = parse_mapping({"fields": {"email": "Email"}})
    with pytest.raises(MappingError, match="invalid email"):
        map_record({"Email": address}, mapping)


def test_a_valid_address_outside_the_common_shape_is_still_accepted():
    mapping = parse_mapping({"fields": {"email": "Email"}})
    assert map_record({"Email": " 用户@例子.中国 "}, mapping).email == "用户@例子.中国"
    with pytest.raises(EmailNotValidError):
        validate_email("a@shop.test", check_deliverability=False)
