"""Declarative CRM field mapping: which source value feeds which profile field, and how.

Pure: no Flask, no SQLAlchemy, so it is unit-tested in milliseconds and shared by every
source (file imports, databases, REST endpoints, vendor adapters). A mapping is JSON data::

    {
      "default_region": "CN",
      "timezone": "Asia/Shanghai",
      "helpdesk_owned": ["tags"],
      "fields": {
        "email":   {"from": "Email|contact.emails[0]", "transforms": ["strip"]},
        "name":    "Full name",
        "company": "account.name",
        "phone":   {"from": "手机", "transforms": ["e164"]},
        "tier":    {"from": "客户等级", "map": {"A类客户": "VIP", "B类客户": "Standard"},
                    "strict": true},
        "tags":    {"from": "标签", "transforms": ["split:、"]},
        "extra.signed_at": {"from": "签约时间", "transforms": ["local_time"]}
      }
    }

A field given as a plain string is shorthand for ``{"from": "..."}``. ``from`` names a key of
the record; when the record has no such key it is read as a path: dots into objects, ``[n]``
into lists (``contacts[0].email``), ``[*]`` over every item of a list (``Tag[*].name``), and
``|`` between alternatives, the first non-blank wins. ``from`` may also be a list of such
sources, read into a list of texts in that order (blank where a source is empty), e.g.
``["MobilePhone", "Phone"]`` for ``phones`` or ``["LastName", "FirstName"]`` for ``full_name``.
Transforms run in the order given and the value map runs after them, so a map's keys are
written the way the transformed value looks:

* ``strip``, ``lower``; ``split:<sep>`` (text to list), ``join:<sep>`` and ``first`` (list
  to text);
* ``full_name``: a ``[family name, given name]`` pair to one name in the order its script
  uses: Chinese, Japanese and Korean names family first with no space (``陈美``), others
  given name first (``Mei Chen``);
* ``e164``: a phone number in E.164 (``+8613800138000``), national numbers read in the
  mapping's ``default_region``;
* ``epoch_s``, ``epoch_ms``, ``iso8601``, ``local_time``: a time as ISO-8601 UTC; a naive
  ``local_time`` (``2024-05-01 09:30:00``) is read in the mapping's ``timezone``.

With ``"strict": true`` a value missing from the map makes the record invalid; otherwise
unmapped values pass through unchanged. ``extra.<key>`` targets fill the customer's custom
fields. ``helpdesk_owned`` lists profile fields the CRM may fill when blank but never
overwrite (a change goes to the conflict queue instead).

Blank values are *left out* of the mapped profile rather than clearing the stored field: an
empty cell in a spreadsheet export is more often an omission than a decision.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from crm_bridge.email_syntax import is_plain_email

#: Profile fields a mapping may fill. ``email`` is required: it is how customers are matched.
PROFILE_TARGETS = ("name", "phone", "company", "tier", "owner", "tags", "lifetime_value")
TARGET_FIELDS = ("email", "emails", "phones", "external_id", *PROFILE_TARGETS)
#: Targets whose mapped value is a list of strings; every other target holds one string.
LIST_FIELDS = frozenset({"tags", "emails", "phones"})
EXTRA_PREFIX = "extra."
_TIME_TRANSFORMS = ("epoch_s", "epoch_ms", "iso8601", "local_time")
_SIMPLE_TRANSFORMS = ("strip", "lower", "first", "full_name", "e164", *_TIME_TRANSFORMS)
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+|\*)\]")
#: Han, Hiragana, Katakana and Hangul: names in these scripts put the family name first.
_FAMILY_FIRST_SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")

Value = str | list[str]


class InvalidMapping(ValueError):
    """The mapping itself is wrong (unknown field or transform, email not mapped)."""


class MappingError(ValueError):
    """One record cannot be mapped; the message says why, in terms a CRM admin can act on."""


@dataclass(frozen=True, slots=True)
class Context:
    """Mapping-wide settings some transforms need."""

    default_region: str | None = None
    timezone: ZoneInfo | None = None


@dataclass(frozen=True, slots=True)
class Transform:
    """One step applied to a value (see the module docstring for the list)."""

    name: str
    separator: str = ""

    @classmethod
    def parse(cls, spec: str) -> Transform:
        if spec in _SIMPLE_TRANSFORMS:
            return cls(spec)
        for name in ("split", "join"):
            if spec.startswith(f"{name}:") and len(spec) > len(name) + 1:
                return cls(name, spec[len(name) + 1:])
        raise InvalidMapping(f"unknown transform {spec!r} (use {', '.join(_SIMPLE_TRANSFORMS)}, "
                             "split:<sep> or join:<sep>)")

    @property
    def makes_list(self) -> bool:
        return self.name == "split"

    @property
    def makes_text(self) -> bool:
        return self.name in ("join", "first", "full_name")

    def apply(self, value: Value, context: Context) -> Value:
        if self.name == "join":
            return self.separator.join(value) if isinstance(value, list) else value
        if self.name == "first":
            return next((item for item in value if item), "") if isinstance(value, list) \
                else value
        if self.name == "full_name":
            return _full_name(value) if isinstance(value, list) else value
        if isinstance(value, list):
            # Element-wise, so a JSON source that already holds a list behaves like a
            # spreadsheet cell that was split; a split of a list flattens.
            results = [self.apply(item, context) for item in value]
            return [piece for result in results
                    for piece in (result if isinstance(result, list) else [result])]
        if self.name == "strip":
            return value.strip()
        if self.name == "lower":
            return value.lower()
        if self.name == "split":
            return [piece.strip() for piece in value.split(self.separator)]
        if self.name == "e164":
            return _e164(value, context)
        return _utc_iso(self.name, value, context)


def _full_name(parts: list[str]) -> str:
    family, given = [*parts, "", ""][:2]
    family, given = family.strip(), given.strip()
    if _FAMILY_FIRST_SCRIPT.search(family + given):
        return family + given
    return " ".join(part for part in (given, family) if part)


def _e164(value: str, context: Context) -> str:
    if not value.strip():
        return ""
    try:
        number = phonenumbers.parse(value, context.default_region)
    except phonenumbers.NumberParseException as error:
        raise MappingError(f"{value!r} is not a phone number ({error})") from error
    if not phonenumbers.is_valid_number(number):
        raise MappingError(f"{value!r} is not a valid phone number"
                           + ("" if context.default_region else " (no default_region set)"))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _utc_iso(kind: str, value: str, context: Context) -> str:
    text = value.strip()
    if not text:
        return ""
    try:
        if kind in ("epoch_s", "epoch_ms"):
            seconds = float(text) / (1000 if kind == "epoch_ms" else 1)
            moment = datetime.fromtimestamp(seconds, UTC)
        else:
            moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError) as error:
        raise MappingError(f"{value!r} is not a time ({kind})") from error
    if moment.tzinfo is None:
        if kind == "iso8601":
            raise MappingError(f"{value!r} has no UTC offset (use local_time for local times)")
        assert context.timezone is not None  # checked when the mapping was parsed
        moment = moment.replace(tzinfo=context.timezone)
    return moment.astimezone(UTC).isoformat()


@dataclass(frozen=True, slots=True)
class FieldRule:
    """How one target field is read from a source record."""

    target: str
    source: str | tuple[str, ...]
    transforms: tuple[Transform, ...] = ()
    value_map: Mapping[str, str] = field(default_factory=dict)
    strict: bool = False

    @property
    def is_list(self) -> bool:
        return self.target in LIST_FIELDS

    @property
    def accepts_lists(self) -> bool:
        return self.is_list or any(t.makes_text for t in self.transforms)

    @property
    def source_label(self) -> str:
        return self.source if isinstance(self.source, str) else " + ".join(self.source)


@dataclass(frozen=True, slots=True)
class FieldMapping:
    """A parsed mapping: one rule per target field, ``email`` always among them."""

    rules: tuple[FieldRule, ...]
    context: Context = Context()
    helpdesk_owned: frozenset[str] = frozenset()

    @property
    def email_source(self) -> str:
        return next(rule.source_label for rule in self.rules if rule.target == "email")


@dataclass(frozen=True, slots=True)
class MappedProfile:
    """A record turned into profile data for ``helpdesk.customers.profiles.apply_profiles``.

    ``email`` is normalised (trimmed, lower-cased); ``fields`` holds only the profile fields
    that had a value; ``external_id`` is the CRM's own id when the mapping names one;
    ``emails`` and ``phones`` are further identities; ``extra`` the custom fields.
    """

    email: str
    fields: Mapping[str, str | list[str]]
    external_id: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    extra: Mapping[str, str] = field(default_factory=dict)


def parse_mapping(data: Any) -> FieldMapping:
    """Validate mapping data (already decoded from JSON) and build a :class:`FieldMapping`."""
    if not isinstance(data, Mapping) or not isinstance(data.get("fields"), Mapping):
        raise InvalidMapping('a mapping is an object with a "fields" object')
    unknown = set(data) - {"fields", "default_region", "timezone", "helpdesk_owned"}
    if unknown:
        raise InvalidMapping(f"unknown mapping setting(s) {', '.join(sorted(unknown))}")
    rules = [_parse_rule(target, spec) for target, spec in data["fields"].items()]
    if not any(rule.target == "email" for rule in rules):
        raise InvalidMapping('the mapping must say where "email" comes from')
    context = _parse_context(data)
    transforms = {t.name for rule in rules for t in rule.transforms}
    if "local_time" in transforms and context.timezone is None:
        raise InvalidMapping('local_time needs the mapping\'s "timezone" (e.g. "Asia/Shanghai")')
    owned = data.get("helpdesk_owned", [])
    if not isinstance(owned, list) or not set(owned) <= set(PROFILE_TARGETS):
        raise InvalidMapping(f"helpdesk_owned: a list of profile fields "
                             f"({', '.join(PROFILE_TARGETS)})")
    return FieldMapping(tuple(rules), context, frozenset(owned))


def _parse_context(data: Mapping[str, Any]) -> Context:
    region = data.get("default_region")
    if region is not None and (not isinstance(region, str)
                               or region.upper() not in phonenumbers.SUPPORTED_REGIONS):
        raise InvalidMapping(f"default_region: unknown region {region!r} (e.g. CN, US, GB)")
    zone = data.get("timezone")
    try:
        timezone = ZoneInfo(zone) if isinstance(zone, str) and zone else None
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidMapping(f"timezone: unknown zone {zone!r}") from error
    return Context(region.upper() if region else None, timezone)


def load_mapping(path: str | Path) -> FieldMapping:
    """Read and validate a mapping from a JSON file (UTF-8)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InvalidMapping(f"{path} is not valid JSON: {error}") from error
    return parse_mapping(data)


def _parse_rule(target: str, spec: Any) -> FieldRule:
    if target not in TARGET_FIELDS and not (
            target.startswith(EXTRA_PREFIX) and len(target) > len(EXTRA_PREFIX)):
        raise InvalidMapping(f"unknown target field {target!r} "
                             f"(known: {', '.join(TARGET_FIELDS)}, extra.<name>)")
    if isinstance(spec, str):
        spec = {"from": spec}
    source = spec.get("from") if isinstance(spec, Mapping) else None
    if isinstance(source, list) and source and all(isinstance(s, str) and s for s in source):
        source = tuple(source)
    elif not isinstance(source, str) or not source:
        raise InvalidMapping(f'{target}: give the source column as a string, or as {{"from": '
                             '...}} with a column or a list of columns')
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
    rule = FieldRule(target=target, source=source,
                     transforms=tuple(Transform.parse(t) for t in transforms),
                     value_map=dict(value_map), strict=strict)
    if not rule.is_list and _ends_as_list(rule.transforms,
                                          starts_as_list=isinstance(source, tuple)):
        raise InvalidMapping(f"{target}: only list fields ({', '.join(sorted(LIST_FIELDS))}) "
                             "take a split or a list of columns (add first, full_name or "
                             "join:<sep>)")
    return rule


def _ends_as_list(transforms: tuple[Transform, ...], *, starts_as_list: bool) -> bool:
    shape_is_list = starts_as_list
    for transform in transforms:
        if transform.makes_list:
            shape_is_list = True
        elif transform.makes_text:
            shape_is_list = False
    return shape_is_list


def map_record(record: Mapping[str, Any], mapping: FieldMapping) -> MappedProfile:
    """Apply ``mapping`` to one source record.

    Raises :class:`MappingError` when the record is not an object, the email is missing or
    invalid, a value has the wrong shape, a phone or time does not parse, or a strict value
    map does not know a value. Nothing of a failing record is used.
    """
    if not isinstance(record, Mapping):
        raise MappingError(f"record is a {type(record).__name__}, not an object")
    values: dict[str, str | list[str]] = {}
    for rule in mapping.rules:
        try:
            value = _mapped_value(record, rule, mapping.context)
        except MappingError as error:
            if str(error).startswith(f"{rule.target}:"):
                raise
            raise MappingError(f"{rule.target}: {error}") from error
        if value is not None:
            values[rule.target] = value
    email = values.pop("email", None)
    external_id = values.pop("external_id", None)
    emails = values.pop("emails", [])
    phones = values.pop("phones", [])
    extra = {name[len(EXTRA_PREFIX):]: values.pop(name) for name in list(values)
             if name.startswith(EXTRA_PREFIX)}
    # Single-valued targets hold text, list targets lists: the isinstance checks only narrow.
    if not isinstance(email, str):
        raise MappingError(f"missing email (column {mapping.email_source!r} is empty)")
    primary = _valid_email(email)
    further = tuple(dict.fromkeys(_valid_email(e) for e in emails if isinstance(e, str)))
    phone = values.get("phone")
    all_phones = ([phone] if isinstance(phone, str) else []) + list(phones)
    return MappedProfile(
        email=primary, fields=values,
        external_id=external_id if isinstance(external_id, str) else None,
        emails=tuple(e for e in further if e != primary),
        # Only E.164 numbers identify a person across sources; other text is just shown.
        phones=tuple(dict.fromkeys(p for p in all_phones if _looks_e164(p))),
        extra={name: str(value) for name, value in extra.items()})


def _looks_e164(value: str) -> bool:
    return value.startswith("+") and value[1:].isdigit() and 8 <= len(value) <= 16


def _mapped_value(record: Mapping[str, Any], rule: FieldRule,
                  context: Context) -> str | list[str] | None:
    if isinstance(rule.source, tuple):
        parts = [_as_value(rule, lookup(record, source)) for source in rule.source]
        value: str | list[str] | None = [
            piece for part in parts
            for piece in (part if isinstance(part, list) else [part or ""])]
    else:
        value = _as_value(rule, lookup(record, rule.source))
    if value is None:
        return None
    for transform in rule.transforms:
        value = transform.apply(value, context)
    if rule.value_map:
        value = ([_map_value(rule, item) for item in value] if isinstance(value, list)
                 else _map_value(rule, value))
    if rule.is_list:
        items = value if isinstance(value, list) else [value]
        # Order kept, duplicates and blanks dropped: "a,,b,a" is the tag list [a, b].
        return list(dict.fromkeys(item for item in items if item)) or None
    if isinstance(value, list):
        raise MappingError(f"{rule.target}: {rule.source_label!r} holds a list; "
                           "add first or join")
    return value or None


def lookup(record: Mapping[str, Any], source: str) -> Any:
    """The value at ``source`` in ``record``: a key, a path, or the first non-blank alternative."""
    if source in record:
        return record[source]
    for alternative, parts in _parsed_source(source):
        value = record[alternative] if alternative in record else _walk(record, parts)
        if value not in (None, "", []):
            return value
    return None


@lru_cache(maxsize=1024)
def _parsed_source(source: str) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """``source``'s alternatives, each with its path split into parts: parsed once per
    source, not once per record (a sync maps every record with the same few sources)."""
    alternatives = (alternative.strip() for alternative in source.split("|"))
    return tuple((path, tuple(_PATH_PART.findall(path))) for path in alternatives)


def _walk(current: Any, parts: Sequence[tuple[str, str]]) -> Any:
    for position, (name, index) in enumerate(parts):
        if name:
            if not isinstance(current, Mapping) or name not in current:
                return None
            current = current[name]
        elif index == "*":
            if not isinstance(current, list):
                return None
            found = (_walk(item, parts[position + 1:]) for item in current)
            return [item for item in found if item not in (None, "")]
        else:
            if not isinstance(current, list) or int(index) >= len(current):
                return None
            current = current[int(index)]
    return current


def _as_value(rule: FieldRule, raw: Any) -> str | list[str] | None:
    if raw is None:
        return None
    if isinstance(raw, bool):  # before int: bool is an int subclass
        return "true" if raw else "false"
    if isinstance(raw, str | int | float):
        return str(raw)
    if isinstance(raw, list) and rule.accepts_lists and all(
            isinstance(item, str | int | float) and not isinstance(item, bool) for item in raw):
        return [str(item) for item in raw]
    raise MappingError(f"{rule.target}: {rule.source_label!r} holds a {type(raw).__name__}, "
                       "expected " + ("a list of texts" if rule.is_list
                                      else "a text or number"))


def _map_value(rule: FieldRule, value: str) -> str:
    if value in rule.value_map:
        return rule.value_map[value]
    if rule.strict and value:
        known = ", ".join(sorted(rule.value_map))
        raise MappingError(f"{rule.target}: unknown value {value!r} (known: {known})")
    return value


def _valid_email(address: str) -> str:
    stripped = address.strip()
    if not is_plain_email(stripped):
        try:
            # Syntax only: deliverability would mean DNS look-ups for every imported row.
            validate_email(stripped, check_deliverability=False)
        except EmailNotValidError as error:
            raise MappingError(f"invalid email {address!r}: {error}") from error
    return stripped.lower()
