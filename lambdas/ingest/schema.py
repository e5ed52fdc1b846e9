"""A dataset's Avro schema (docs/personalize.md §4) and the mapping of a message's ``properties`` onto it.

Personalize wants ``properties`` keyed by the schema field names in camelCase (NUMBER_OF_RATINGS →
``numberOfRatings``). Upstream teams write either form, so both are accepted (and, when unambiguous, any form
that differs only in case and underscores); what is sent is always camelCase.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from contract import ErrorCode
from ingest.errors import RejectedRecord
from ingest.model import FieldError, parse_timestamp, to_number
from service_rules import MAX_STRING_VALUE, service_length, string_value_problem

# docs/personalize.md §2: a categorical value, and any Items string value, is at most 1,000 characters.
MAX_CATEGORICAL_VALUE = MAX_STRING_VALUE
CATEGORICAL_SEPARATOR = "|"
_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
# Reserved long fields that hold epoch seconds: accept ISO-8601 as for the request timestamps (docs/contracts.md §1).
_TIMESTAMP_FIELDS = frozenset({"CREATION_TIMESTAMP", "EXPIRATION_TIMESTAMP"})
_SCALAR_TYPES = frozenset({"string", "int", "long", "float", "double", "boolean"})


class SchemaError(ValueError):
    """The schema document itself cannot be understood."""


def camel_case(name: str) -> str:
    """NUMBER_OF_RATINGS → numberOfRatings; GENRE_L2 → genreL2 (docs/personalize.md §4)."""
    head, *rest = name.lower().split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _loose(key: str) -> str:
    return key.replace("_", "").lower()


@dataclass(frozen=True, slots=True)
class SchemaField:
    """One metadata field of a dataset schema."""

    name: str
    types: tuple[str, ...]
    nullable: bool
    categorical: bool
    textual: bool
    # The key Personalize expects in ``properties``: computed once, not for every property of every record.
    property_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "property_key", camel_case(self.name))  # frozen: set once, here


@dataclass(frozen=True, slots=True)
class DatasetSchema:
    """The metadata fields a record's ``properties`` may carry, and how message keys map onto them."""

    fields: tuple[SchemaField, ...]
    string_limit: int | None = None
    _lookup: dict[str, SchemaField] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, document: str, *, request_fields: frozenset[str], string_limit: int | None = None) -> DatasetSchema:
        """Parse an Avro schema; fields carried by request fields (ids, reserved event fields) are left out.

        ``string_limit`` caps every non-textual string value (the Items rule, docs/personalize.md §2); the service's
        own rule (``service_rules.string_value_problem``) applies to every dataset type in any case.
        """
        try:
            avro = json.loads(document)
            raw_fields = avro["fields"]
            fields = tuple(_parse_field(raw) for raw in raw_fields if raw["name"] not in request_fields)
        except (ValueError, KeyError, TypeError) as exc:
            raise SchemaError(f"unreadable Avro schema: {exc}") from exc
        lookup: dict[str, SchemaField] = {}
        loose_seen: dict[str, list[SchemaField]] = {}
        for schema_field in fields:
            loose_seen.setdefault(_loose(schema_field.name), []).append(schema_field)
        for key, candidates in loose_seen.items():
            if len(candidates) == 1:
                lookup[key] = candidates[0]
        exact = {schema_field.name: schema_field for schema_field in fields}
        exact.update({schema_field.property_key: schema_field for schema_field in fields})
        return cls(
            fields=fields,
            string_limit=string_limit,
            _lookup={
                **{f"~{key}": value for key, value in lookup.items()},
                **exact,
            },
        )

    def field_for(self, key: str) -> SchemaField | None:
        """The schema field a message key names: exact (SCHEMA_NAME or camelCase), else loosely if unambiguous."""
        return self._lookup.get(key) or self._lookup.get(f"~{_loose(key)}")

    def normalize(self, properties: dict[str, Any]) -> dict[str, Any]:
        """Map a message's properties onto the schema and return them keyed and typed as Personalize wants.

        ``typed`` then ``check_values``; ``ingest.validate`` calls the two apart, to check the API's size limit
        on the serialized properties in between (a size over it is MalformedMessage whatever the values hold).

        Raises
        ------
        RejectedRecord
            ``SchemaViolation``: an unknown field, a wrong type, a value over its limit, a missing
            non-nullable field. The message names the field, never its value.
        """
        normalized = self.typed(properties)
        self.check_values(normalized)
        return normalized

    def typed(self, properties: dict[str, Any]) -> dict[str, Any]:
        """Map a message's properties onto the schema, keyed (camelCase) and typed; no length rule applied.

        Raises
        ------
        RejectedRecord
            ``SchemaViolation``: an unknown field, a field given twice, a wrong type, a missing non-nullable field.
        """
        result: dict[str, Any] = {}
        for key, value in properties.items():
            schema_field = self.field_for(key)
            if schema_field is None:
                raise RejectedRecord(ErrorCode.SCHEMA_VIOLATION, f"properties.{key}: not a field of the schema")
            if schema_field.property_key in result:
                raise RejectedRecord(
                    ErrorCode.SCHEMA_VIOLATION, f"properties.{key}: field {schema_field.name} given twice"
                )
            if value is None:
                if not schema_field.nullable:
                    raise RejectedRecord(
                        ErrorCode.SCHEMA_VIOLATION, f"properties.{key}: {schema_field.name} is not nullable"
                    )
                continue
            result[schema_field.property_key] = self._value(schema_field, value, f"properties.{key}")
        missing = [f.name for f in self.fields if not f.nullable and f.property_key not in result]
        if missing:
            raise RejectedRecord(
                ErrorCode.SCHEMA_VIOLATION, f"properties: missing non-nullable field(s) {', '.join(missing)}"
            )
        return result

    def check_values(self, normalized: dict[str, Any]) -> None:
        """Apply the service's length rule to every string value of ``typed`` properties.

        The rule is ``service_rules.string_value_problem``, which the emulator applies too: the value as sent, a
        joined categorical list included, for every dataset type; textual fields excepted (the service truncates
        them at 20,000). A categorical entry that alone is too long is named as such, so the publisher sees which.

        Raises
        ------
        RejectedRecord
            ``SchemaViolation`` naming the field and the rule, never the value.
        """
        for key, value in normalized.items():
            schema_field = self.field_for(key)
            if not isinstance(value, str) or schema_field is None:
                continue
            problem = self._length_problem(schema_field, value)
            if problem is not None:
                raise RejectedRecord(ErrorCode.SCHEMA_VIOLATION, f"properties.{key}: {problem}")

    def _length_problem(self, schema_field: SchemaField, text: str) -> str | None:
        if schema_field.categorical:
            longest = max(service_length(entry) for entry in text.split(CATEGORICAL_SEPARATOR))
            if longest > MAX_CATEGORICAL_VALUE:
                return f"a categorical value may have at most {MAX_CATEGORICAL_VALUE} characters, got {longest}"
        problem = string_value_problem(text, textual=schema_field.textual)
        if problem is None and self.string_limit is not None and not schema_field.textual:
            # A schema may be given a cap of its own (Items state theirs, docs/personalize.md §2); never a looser one.
            length = service_length(text)
            if length > self.string_limit:
                problem = f"a string value may have at most {self.string_limit} characters, got {length}"
        return problem

    def _value(self, schema_field: SchemaField, value: Any, path: str) -> Any:
        errors = []
        for avro_type in schema_field.types:
            try:
                return self._typed(schema_field, avro_type, value, path)
            except FieldError as exc:
                errors.append(str(exc))
        raise RejectedRecord(ErrorCode.SCHEMA_VIOLATION, "; ".join(errors))

    def _typed(self, schema_field: SchemaField, avro_type: str, value: Any, path: str) -> Any:
        if avro_type == "string":
            return self._string(schema_field, value, path)
        if avro_type in _INT_RANGE:
            if schema_field.name in _TIMESTAMP_FIELDS:
                return parse_timestamp(value, path)
            number = to_number(value)
            low, high = _INT_RANGE[avro_type]
            if number is None or not float(number).is_integer() or not low <= int(number) <= high:
                raise FieldError(f"{path}: must be an Avro {avro_type}")
            return int(number)
        if avro_type in {"float", "double"}:
            number = to_number(value)
            if number is None:
                raise FieldError(f"{path}: must be a number")
            return float(number) if isinstance(number, float) else number
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        raise FieldError(f"{path}: must be a boolean")

    def _string(self, schema_field: SchemaField, value: Any, path: str) -> str:
        if isinstance(value, list) and schema_field.categorical:
            if not value or not all(isinstance(entry, str) for entry in value):
                raise FieldError(f"{path}: a categorical list must hold one or more strings")
            values = value
        elif isinstance(value, str):
            values = value.split(CATEGORICAL_SEPARATOR) if schema_field.categorical else [value]
        else:
            raise FieldError(
                f"{path}: must be a string" + (" or a list of strings" if schema_field.categorical else "")
            )
        return CATEGORICAL_SEPARATOR.join(values) if schema_field.categorical else value


def _parse_field(raw: dict[str, Any]) -> SchemaField:
    declared = raw["type"]
    options = declared if isinstance(declared, list) else [declared]
    names = [option if isinstance(option, str) else option.get("type") for option in options]
    types = tuple(name for name in names if name != "null")
    if not types or any(name not in _SCALAR_TYPES for name in types):
        raise SchemaError(f"field {raw['name']}: unsupported type {declared!r}")
    return SchemaField(
        name=str(raw["name"]),
        types=types,
        nullable="null" in names,
        categorical=bool(raw.get("categorical", False)),
        textual=bool(raw.get("textual", False)),
    )
