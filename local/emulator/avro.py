"""Personalize's Avro schemas: parsing them, fitting them to dataset types, and checking records' properties.

The parsing and the record checks are written for the emulator alone: it is the independent oracle the ingest
Lambda is tested against. The tables of what each dataset type (and each domain) requires of a schema come from
``schema_rules``, which the stack's synth-time checks read too, so the two refuse the same schemas. Rules from the
Personalize developer guide, "Creating schema JSON files" and "Dataset and schema requirements".
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from contract import KIND_SPECS
from schema_rules import REQUIRED_FIELDS, RESERVED_FIELDS, domain_field_problems
from service_rules import MAX_STRING_VALUE, MAX_TEXTUAL_VALUE, service_length, string_value_problem

PRIMITIVES = frozenset({"float", "double", "int", "long", "string", "boolean"})
AVRO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
INTEGER_TEXT = re.compile(r"[+-]?\d+")
NUMBER_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
INT_RANGES = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


class SchemaError(ValueError):
    """A schema that Personalize would not accept (for a given dataset type, or at all)."""


@dataclass(frozen=True)
class Field:
    """One field of a schema, reduced to what Personalize uses."""

    name: str
    type: str
    nullable: bool
    categorical: bool = False
    textual: bool = False

    @property
    def key(self) -> str:
        """The field's name in a record's ``properties`` (camelCase)."""
        return camel_case(self.name)


@dataclass(frozen=True)
class AvroSchema:
    """A parsed Personalize schema: a flat record of :class:`Field`."""

    name: str
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field | None:
        """Return the field called ``name`` (exactly), or ``None``."""
        return next((f for f in self.fields if f.name == name), None)

    def as_json_fields(self) -> list[dict[str, Any]]:
        """Return the fields as a schema's JSON spells them (what ``schema_rules`` reads), normalised."""
        return [
            {
                "name": f.name,
                "type": ["null", f.type] if f.nullable else f.type,
                "categorical": f.categorical,
                "textual": f.textual,
            }
            for f in self.fields
        ]


@dataclass(frozen=True)
class DatasetType:
    """What a dataset type asks of its schema, and which of its fields records carry outside ``properties``.

    Parameters
    ----------
    name : str
        The upper-case type (``ITEMS``), as in dataset ARNs.
    required : Mapping[str, str]
        Fields the schema must define, with their (non-null) Avro type.
    request_fields : frozenset[str]
        Schema fields filled from the request's own members (ids, timestamps, event type...), never from
        ``properties``.
    min_metadata, max_metadata : int
        Bounds on the number of the other fields (the "metadata" fields).
    reserved : Mapping[str, tuple[str, bool]]
        Reserved keywords a schema may define, each with the type it must have and whether it may be nullable.
    """

    name: str
    required: Mapping[str, str]
    request_fields: frozenset[str]
    min_metadata: int
    max_metadata: int
    reserved: Mapping[str, tuple[str, bool]] = field(default_factory=dict)


_INTERACTION_FIELDS = ("USER_ID", "TIMESTAMP", "EVENT_TYPE", "IMPRESSION", "RECOMMENDATION_ID", "EVENT_ID")
_ITEMS: Final = KIND_SPECS["item"].dataset_type

# The emulator's own columns, per kind of the contract: the schema fields a record carries outside ``properties``
# (from the Put* API references) and the bounds on the metadata fields (quotas page: Users 25, Items 100, Actions
# 10, Interactions 5; Items, Users and Actions need at least one). Required fields and reserved keywords come from
# schema_rules, the table the stack's synth-time checks read too.
_EMULATOR_COLUMNS: Final[Mapping[str, tuple[frozenset[str], int, int]]] = {
    "event": (frozenset({*_INTERACTION_FIELDS, "ITEM_ID", "EVENT_VALUE", "EVENT_ATTRIBUTION_SOURCE"}), 0, 5),
    "item": (frozenset({"ITEM_ID"}), 1, 100),
    "user": (frozenset({"USER_ID"}), 1, 25),
    "action": (frozenset({"ACTION_ID"}), 1, 10),
    "actionInteraction": (frozenset({*_INTERACTION_FIELDS, "ACTION_ID"}), 0, 10),
}
DATASET_TYPES: Mapping[str, DatasetType] = {
    spec.dataset_type: DatasetType(
        spec.dataset_type,
        REQUIRED_FIELDS[spec.dataset_type],
        *_EMULATOR_COLUMNS[spec.name],
        reserved=RESERVED_FIELDS[spec.dataset_type],
    )
    for spec in KIND_SPECS.values()
}


def camel_case(name: str) -> str:
    """Return a schema field name as a ``properties`` key: GENRES → genres, GENRE_L2 → genreL2.

    Parts already in mixed case keep their inner capitals (``numberOfRatings`` stays as it is).
    """
    parts = [part for part in name.split("_") if part]
    if not parts:
        return name
    first, rest = parts[0], parts[1:]
    head = first.lower() if first.upper() == first else first[0].lower() + first[1:]
    tail = "".join(part.capitalize() if part.upper() == part else part[0].upper() + part[1:] for part in rest)
    return head + tail


def clash_key(name: str) -> str:
    """Return the form under which two field names clash: underscores ignored, case ignored."""
    return name.replace("_", "").lower()


def parse_schema(text: str) -> AvroSchema:
    """Parse a Personalize schema (Avro JSON).

    Raises
    ------
    SchemaError
        If the text is not JSON, not a flat record, uses an unsupported type, or repeats a field name.
    """
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise SchemaError(f"The schema is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("type") != "record":
        raise SchemaError('The schema must be an Avro record: {"type": "record", "name": ..., "fields": [...]}')
    name = document.get("name")
    if not isinstance(name, str) or not AVRO_NAME.fullmatch(name):
        raise SchemaError("The schema record needs a valid name")
    raw_fields = document.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise SchemaError("The schema record needs a non-empty list of fields")
    fields = tuple(_parse_field(index, raw) for index, raw in enumerate(raw_fields))
    seen: dict[str, str] = {}
    for f in fields:
        other = seen.get(clash_key(f.name))
        if other is not None:
            raise SchemaError(f'Field names must be unique ignoring case and "_": "{other}" and "{f.name}" clash')
        seen[clash_key(f.name)] = f.name
    return AvroSchema(name=name, fields=fields)


def _parse_field(index: int, raw: Any) -> Field:
    """Parse one entry of ``fields``."""
    if not isinstance(raw, dict):
        raise SchemaError(f"fields[{index}] must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not AVRO_NAME.fullmatch(name):
        raise SchemaError(f"fields[{index}] needs a valid Avro name")
    base, nullable = _parse_type(name, raw.get("type"))
    flags = {}
    for flag in ("categorical", "textual"):
        value = raw.get(flag, False)
        if not isinstance(value, bool):
            raise SchemaError(f'Field "{name}": "{flag}" must be true or false')
        if value and base != "string":
            raise SchemaError(f'Field "{name}": only string fields can be {flag}')
        flags[flag] = value
    if flags["categorical"] and flags["textual"]:
        raise SchemaError(f'Field "{name}" cannot be both categorical and textual')
    return Field(name, base, nullable, flags["categorical"], flags["textual"])


def _parse_type(name: str, raw: Any) -> tuple[str, bool]:
    """Return (primitive type, nullable) of a field's ``type``: a primitive or a union of one with null."""
    members = raw if isinstance(raw, list) else [raw]
    names = [m.get("type") if isinstance(m, dict) else m for m in members]
    if any(not isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise SchemaError(f'Field "{name}": unsupported type (flat records only: no arrays, maps or records)')
    non_null = [n for n in names if n != "null"]
    if len(non_null) != 1 or (len(names) > 1 and "null" not in names):
        raise SchemaError(f'Field "{name}": a union may only combine one type with "null"')
    base = non_null[0]
    if base not in PRIMITIVES:
        raise SchemaError(f'Field "{name}": unsupported type "{base}" (use {", ".join(sorted(PRIMITIVES))})')
    return base, "null" in names


def check_fits(schema: AvroSchema, dataset_type: str) -> None:
    """Check that ``schema`` can back a dataset of ``dataset_type`` (upper case).

    Raises
    ------
    SchemaError
        If a required field is missing or mistyped, or the metadata fields are too few or too many.
    """
    rules = DATASET_TYPES[dataset_type]
    for name, expected in rules.required.items():
        f = schema.field(name)
        if f is None:
            raise SchemaError(f"A schema for a {dataset_type} dataset needs the field {name} ({expected})")
        if f.type != expected or f.nullable:
            raise SchemaError(f'Field {name} of a {dataset_type} dataset must be of type "{expected}" (not null)')
    for name, (expected, may_be_null) in rules.reserved.items():
        f = schema.field(name)
        if f is not None and (f.type != expected or (f.nullable and not may_be_null)):
            shape = f'"{expected}" or ["null", "{expected}"]' if may_be_null else f'"{expected}" (not null)'
            raise SchemaError(f"Reserved field {name} of a {dataset_type} dataset must be of type {shape}")
    metadata = [f for f in schema.fields if f.name not in rules.request_fields]
    if len(metadata) < rules.min_metadata:
        raise SchemaError(f"A schema for a {dataset_type} dataset needs at least {rules.min_metadata} metadata field")
    if len(metadata) > rules.max_metadata:
        raise SchemaError(f"A {dataset_type} dataset allows at most {rules.max_metadata} metadata fields")
    textual = [f.name for f in schema.fields if f.textual]
    if textual and dataset_type != _ITEMS:
        raise SchemaError(f"Only an {_ITEMS} dataset can have a textual field")
    if len(textual) > 1:
        raise SchemaError(f"An {_ITEMS} dataset can have at most one textual field, got {', '.join(textual)}")


def check_domain_fits(schema: AvroSchema, domain: str, dataset_type: str) -> None:
    """Check that ``schema`` has the fields ``domain`` requires of a ``dataset_type`` dataset (``schema_rules``).

    Raises
    ------
    SchemaError
        Naming every missing or mistyped field.
    """
    problems = domain_field_problems(domain, dataset_type, schema.as_json_fields())
    if problems:
        raise SchemaError("; ".join(problem.message for problem in problems))


def check_compatible(old: AvroSchema, new: AvroSchema) -> None:
    """Check that ``new`` may replace ``old`` in UpdateDataset: old fields kept as they were, new ones nullable.

    Raises
    ------
    SchemaError
        Naming the first field that breaks the rule.
    """
    for f in old.fields:
        if new.field(f.name) != f:
            raise SchemaError(f'The new schema must keep field "{f.name}" unchanged')
    for f in new.fields:
        if old.field(f.name) is None and not f.nullable:
            raise SchemaError(f'The new field "{f.name}" must be nullable (a union with "null")')


def check_properties(
    schema: AvroSchema,
    properties: Mapping[str, Any],
    *,
    request_fields: frozenset[str],
) -> tuple[dict[str, Any], list[str]]:
    """Check a record's parsed ``properties`` against the metadata fields of ``schema``.

    Parameters
    ----------
    schema : AvroSchema
        The dataset's schema.
    properties : Mapping[str, Any]
        The record's properties, parsed from its JSON string.
    request_fields : frozenset[str]
        Schema fields the record carries outside ``properties`` (not expected as keys).

    Returns
    -------
    tuple
        The properties as stored (textual values cut to 20,000 characters, as the service does) and the
        problems found; a problem names the key, never the value (values may be personal data).
    """
    fields = {f.key: f for f in schema.fields if f.name not in request_fields}
    stored = dict(properties)
    problems: list[str] = []
    for key, value in properties.items():
        f = fields.get(key)
        if f is None:
            problems.append(_unknown_key(key, fields))
            continue
        problem = _check_value(f, value)
        if problem:
            problems.append(f'field "{key}": {problem}')
        elif f.textual and isinstance(value, str) and len(value) > MAX_TEXTUAL_VALUE:
            stored[key] = value[:MAX_TEXTUAL_VALUE]
    problems.extend(
        f'missing required field "{key}" ({f.name} is not nullable)'
        for key, f in fields.items()
        if not f.nullable and key not in properties
    )
    return stored, problems


def _unknown_key(key: str, fields: Mapping[str, Field]) -> str:
    """Describe an unknown key, pointing at the field it was probably meant for."""
    match = next((k for k, f in fields.items() if clash_key(f.name) == clash_key(key)), None)
    hint = f' (did you mean "{match}"? keys are the field names in camelCase)' if match else ""
    return f'unknown field "{key}"{hint}'


def _check_value(f: Field, value: Any) -> str | None:
    """Return what is wrong with one property value for field ``f``, or ``None``."""
    if value is None:
        return None if f.nullable else "must not be null"
    if f.type == "string":
        return _check_string(f, value)
    if f.type in INT_RANGES:
        number = _as_int(value)
        if number is None:
            return f"expected an {f.type} (a JSON integer or a string of digits)"
        low, high = INT_RANGES[f.type]
        return None if low <= number <= high else f"out of range for an {f.type}"
    if f.type in ("float", "double"):
        return None if _is_finite_number(value) else f"expected a {f.type} (a JSON number or a numeric string)"
    if isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("true", "false")):
        return None
    return 'expected a boolean (true, false, "true" or "false")'


def _check_string(f: Field, value: Any) -> str | None:
    """Check a string value: its type and the service's length rule (``service_rules``, which the ingest Lambda
    applies too): the whole value, ``|``-joined categorical values included, textual fields excepted."""
    if not isinstance(value, str):
        return "expected a string (join several categorical values with |)"
    if string_value_problem(value, textual=f.textual) is None:
        return None
    return f"a string value holds at most {MAX_STRING_VALUE} characters, got {service_length(value)}"


def _as_int(value: Any) -> int | None:
    """Return ``value`` as an int if it is a JSON integer or a string of digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and INTEGER_TEXT.fullmatch(value.strip()):
        return int(value)
    return None


def _is_finite_number(value: Any) -> bool:
    """Return whether ``value`` is a finite JSON number or a numeric string."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return math.isfinite(value)
    return isinstance(value, str) and NUMBER_TEXT.fullmatch(value.strip()) is not None
