"""Declarative CRM field mapping: which source column feeds which profile field, and how.

Pure: no Flask, no SQLAlchemy, so it is unit-tested in milliseconds and shared by every
source (file imports now, CRM adapters later). A mapping is JSON data, for example::

    {
      "fields": {
        "email":   {"from": "Email", "transforms": ["strip"]},
        "name":    "Full name",
        "company": "account.name",
        "tier":    {"from": "客户等级", "map": {"A类客户": "VIP", "B类客户": "Standard"},
                    "strict": true},
        "tags":    {"from": "标签", "transforms": ["split:、"]}
      }
    }

A field given as a plain string is shorthand for ``{"from": "..."}``. ``from`` names a key of
the record; when the record has no such key it is read as a dotted path into nested objects
(``account.name``). Transforms run in the order given and the value map runs after them, so
a map's keys are written the way the transformed value looks. With ``"strict": true`` a value
missing from the map makes the row invalid; otherwise unmapped values pass through unchanged.

Blank values are *left out* of the mapped profile rather than clearing the stored field: an
empty cell in a spreadsheet export is more often an omission than a decision.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email

#: Profile fields a mapping may fill. ``email`` is required: it is how customers are matched.
TARGET_FIELDS = ("email", "name", "phone", "company", "tier", "owner", "tags", "external_id")
#: Targets whose mapped value is a list of strings; every other target holds one string.
LIST_FIELDS = frozenset({"tags"})

Value = str | list[str]


class InvalidMapping(ValueError):
    """The mapping itself is wrong (unknown field or transform, email not mapped)."""


class MappingError(ValueError):
    """One record cannot be mapped; the message says why, in terms a CRM admin can act on."""


@dataclass(frozen=True, slots=True)
class Transform:
    """One step applied to a value: ``strip``, ``lower`` or ``split:<separator>``."""

    name: str
    separator: str = ""

    @classmethod
    def parse(cls, spec: str) -> Transform:
        if spec in ("strip", "lower"):
            return cls(spec)
        if spec.startswith("split:") and len(spec) > len("split:"):
            return cls("split", spec[len("split:"):])
        raise InvalidMapping(f"unknown transform {spec!r} (use strip, lower or split:<sep>)")

    def apply(self, value: Value) -> Value:
        if isinstance(value, list):
            # Element-wise, so a JSON source that already holds a list behaves like a
            # spreadsheet cell that was split; a split of a list flattens.
            results = [self.apply(item) for item in value]
            return [piece for result in results
                    for piece in (result if isinstance(result, list) else [result])]
        if self.name == "strip":
            return value.strip()
        if self.name == "lower":
            return value.lower()
        return [piece.strip() for piece in value.split(self.separator)]


@dataclass(frozen=True, slots=True)
class FieldRule:
    """How one target field is read from a source record."""

    target: str
    source: str
    transforms: tuple[Transform, ...] = ()
    value_map: Mapping[str, str] = field(default_factory=dict)
    strict: bool = False


@dataclass(frozen=True, slots=True)
class FieldMapping:
    """A parsed mapping: one rule per target field, ``email`` always among them."""

    rules: tuple[FieldRule, ...]

    @property
    def email_source(self) -> str:
        return next(rule.source for rule in self.rules if rule.target == "email")


@dataclass(frozen=True, slots=True)
class MappedProfile:
    """A record turned into profile data for ``helpdesk.customers.operations.upsert_profile``.

    ``email`` is normalised (trimmed, lower-cased); ``fields`` holds only the profile fields
    that had a value; ``external_id`` is the CRM's own id when the mapping names one.
    """

    email: str
    fields: Mapping[str, str | list[str]]
    external_id: str | None = None


def parse_mapping(data: Any) -> FieldMapping:
    """Validate mapping data (already decoded from JSON) and build a :class:`FieldMapping`."""
    if not isinstance(data, Mapping) or not isinstance(data.get("fields"), Mapping):
        raise InvalidMapping('a mapping is an object with a "fields" object')
    rules = [_parse_rule(target, spec) for target, spec in data["fields"].items()]
    if not any(rule.target == "email" for rule in rules):
        raise InvalidMapping('the mapping must say where "email" comes from')
    return FieldMapping(tuple(rules))


def load_mapping(path: str | Path) -> FieldMapping:
    """Read and validate a mapping from a JSON file (UTF-8)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InvalidMapping(f"{path} is not valid JSON: {error}") from error
    return parse_mapping(data)


def _parse_rule(target: str, spec: Any) -> FieldRule:
    if target not in TARGET_FIELDS:
        raise InvalidMapping(f"unknown target field {target!r} "
                             f"(known: {', '.join(TARGET_FIELDS)})")
    if isinstance(spec, str):
        spec = {"from": spec}
    if not isinstance(spec, Mapping) or not isinstance(spec.get("from"), str) or not spec["from"]:
        raise InvalidMapping(f'{target}: give the source column as a string or as {{"from": ...}}')
    unknown_keys = set(spec) - {"from", "transforms", "map", "strict"}
    if unknown_keys:
        raise InvalidMapping(f"{target}: unknown setting(s) {', '.join(sorted(unknown_keys))}")
    transforms = spec.get("transforms", [])
    value_map = spec.get("map", {})
    if not isinstance(transforms, list) or not all(isinstance(t, str) for t in transforms):
        raise InvalidMapping(f"{target}: transforms must be a list of strings")
    if not isinstance(value_map, Mapping) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in value_map.items()):
        raise InvalidMapping(f"{target}: map must be an object of strings to strings")
    strict = spec.get("strict", False)
    if not isinstance(strict, bool) or (strict and not value_map):
        raise InvalidMapping(f"{target}: strict must be true or false, and needs a map")
    if target not in LIST_FIELDS and any(t.startswith("split:") for t in transforms):
        raise InvalidMapping(f"{target}: only list fields ({', '.join(sorted(LIST_FIELDS))}) "
                             "can be split")
    return FieldRule(target=target, source=spec["from"],
                     transforms=tuple(Transform.parse(t) for t in transforms),
                     value_map=dict(value_map), strict=strict)


def map_record(record: Mapping[str, Any], mapping: FieldMapping) -> MappedProfile:
    """Apply ``mapping`` to one source record.

    Raises :class:`MappingError` when the record is not an object, the email is missing or
    invalid, a value has the wrong shape, or a strict value map does not know a value.
    """
    if not isinstance(record, Mapping):
        raise MappingError(f"record is a {type(record).__name__}, not an object")
    values: dict[str, str | list[str]] = {}
    for rule in mapping.rules:
        value = _mapped_value(record, rule)
        if value is not None:
            values[rule.target] = value
    email = values.pop("email", None)
    external_id = values.pop("external_id", None)
    # Both are single-valued targets, so the isinstance checks only narrow the type.
    if not isinstance(email, str):
        raise MappingError(f"missing email (column {mapping.email_source!r} is empty)")
    return MappedProfile(email=_valid_email(email), fields=values,
                         external_id=external_id if isinstance(external_id, str) else None)


def _mapped_value(record: Mapping[str, Any], rule: FieldRule) -> str | list[str] | None:
    value = _as_value(rule, _lookup(record, rule.source))
    if value is None:
        return None
    for transform in rule.transforms:
        value = transform.apply(value)
    if rule.value_map:
        value = ([_map_value(rule, item) for item in value] if isinstance(value, list)
                 else _map_value(rule, value))
    if rule.target in LIST_FIELDS:
        items = value if isinstance(value, list) else [value]
        # Order kept, duplicates and blanks dropped: "a,,b,a" is the tag list [a, b].
        return list(dict.fromkeys(item for item in items if item)) or None
    assert isinstance(value, str)  # lists come only from list sources or split, both refused
    return value or None


def _lookup(record: Mapping[str, Any], source: str) -> Any:
    if source in record:
        return record[source]
    current: Any = record
    for part in source.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def _as_value(rule: FieldRule, raw: Any) -> str | list[str] | None:
    if raw is None:
        return None
    if isinstance(raw, bool):  # before int: bool is an int subclass
        return "true" if raw else "false"
    if isinstance(raw, str | int | float):
        return str(raw)
    if isinstance(raw, list) and rule.target in LIST_FIELDS and all(
            isinstance(item, str | int | float) and not isinstance(item, bool) for item in raw):
        return [str(item) for item in raw]
    raise MappingError(f"{rule.target}: {rule.source!r} holds a {type(raw).__name__}, "
                       "expected " + ("a list of texts" if rule.target in LIST_FIELDS
                                      else "a text or number"))


def _map_value(rule: FieldRule, value: str) -> str:
    if value in rule.value_map:
        return rule.value_map[value]
    if rule.strict and value:
        known = ", ".join(sorted(rule.value_map))
        raise MappingError(f"{rule.target}: unknown value {value!r} (known: {known})")
    return value


def _valid_email(address: str) -> str:
    try:
        # Syntax only: deliverability would mean DNS look-ups for every imported row.
        validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise MappingError(f"invalid email {address!r}: {error}") from error
    return address.strip().lower()
