"""The Put* APIs' request shapes, read from botocore's service model, and validation of values against them.

botocore checks only required members, types and minimums client-side; the service rejects maximums and
patterns (docs/personalize.md §1). Checking the model's own limits here, before sending, turns what would be a
whole failed call into one dead-lettered record.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import botocore.session
from botocore import xform_name
from botocore.model import ListShape, OperationModel, Shape, StructureShape

from ingest.kinds import KINDS, Kind
from service_rules import model_pattern_matches

PROPERTIES = "properties"
# Epoch seconds past this are almost surely milliseconds (year 2286); Personalize wants seconds
# (docs/personalize.md §1).
_MAX_EPOCH_SECONDS = 9_999_999_999


class FieldError(ValueError):
    """A value does not fit its shape. The message names the field and the rule, never the value."""


@dataclass(frozen=True, slots=True)
class ApiModel:
    """What the pipeline needs to know about one kind's API, all of it read from botocore's model."""

    kind: Kind
    method: str
    call_fields: dict[str, Shape]
    call_required: frozenset[str]
    record_shape: StructureShape
    max_records: int
    properties_max: int | None


@cache
def api_models() -> dict[str, ApiModel]:
    """Build the ``ApiModel`` of every kind, keyed by kind name (once per process: it reads JSON from disk)."""
    service = botocore.session.get_session().get_service_model("personalize-events")
    models = {}
    for kind in KINDS.values():
        operation: OperationModel = service.operation_model(kind.api)
        input_shape = operation.input_shape
        assert isinstance(input_shape, StructureShape)
        records = input_shape.members[kind.list_field]
        assert isinstance(records, ListShape)
        record_shape = records.member
        assert isinstance(record_shape, StructureShape)
        properties = record_shape.members.get(PROPERTIES)
        models[kind.name] = ApiModel(
            kind=kind,
            method=xform_name(kind.api),
            call_fields={
                name: shape
                for name, shape in input_shape.members.items()
                if name not in {kind.target_field, kind.list_field}
            },
            call_required=frozenset(input_shape.required_members),
            record_shape=record_shape,
            max_records=int(records.metadata["max"]),
            properties_max=int(properties.metadata["max"]) if properties is not None else None,
        )
    return models


def coerce(shape: Shape, value: Any, path: str) -> Any:
    """Check ``value`` against ``shape`` (types, lengths, list sizes, patterns) and return its wire form.

    Numbers may arrive as JSON numbers or numeric strings; timestamps as epoch seconds or ISO-8601 strings and
    are returned as whole epoch seconds.
    """
    type_name = shape.type_name
    if type_name == "string":
        return _string(shape, value, path)
    if type_name in {"float", "double"}:
        return _float(value, path)
    if type_name in {"integer", "long"}:
        return _integer(value, path)
    if type_name == "boolean":
        if isinstance(value, bool):
            return value
        raise FieldError(f"{path}: must be a boolean")
    if type_name == "timestamp":
        return parse_timestamp(value, path)
    if isinstance(shape, ListShape):
        return _list(shape, value, path)
    if isinstance(shape, StructureShape):
        return coerce_structure(shape, value, path)
    raise FieldError(f"{path}: unsupported shape type {type_name}")


def coerce_structure(shape: StructureShape, value: Any, path: str, *, skip: frozenset[str] = frozenset()) -> Any:
    """Check a JSON object against a structure shape: no unknown members, required members present."""
    return coerce_members(shape.members, frozenset(shape.required_members), value, path, skip=skip)


def coerce_members(
    members: Mapping[str, Shape],
    required: frozenset[str],
    value: Any,
    path: str,
    *,
    skip: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Check a JSON object against named member shapes; members in ``skip`` are copied unchecked."""
    if not isinstance(value, dict):
        raise FieldError(f"{path or 'record'}: must be a JSON object")
    prefix = f"{path}." if path else ""
    unknown = sorted(set(value) - set(members))
    if unknown:
        raise FieldError(f"{prefix}{unknown[0]}: unknown field")
    result: dict[str, Any] = {}
    for name, member in members.items():
        if name not in value or value[name] is None:
            if name in required:
                raise FieldError(f"{prefix}{name}: required")
            continue
        result[name] = value[name] if name in skip else coerce(member, value[name], f"{prefix}{name}")
    return result


def _bounds(shape: Shape) -> tuple[int, int | None]:
    return int(shape.metadata.get("min", 0)), (int(shape.metadata["max"]) if "max" in shape.metadata else None)


def _string(shape: Shape, value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise FieldError(f"{path}: must be a string")
    low, high = _bounds(shape)
    if len(value) < low or (high is not None and len(value) > high):
        limit = f"{low}..{high}" if high is not None else f"at least {low}"
        raise FieldError(f"{path}: length must be {limit} characters, got {len(value)}")
    pattern = shape.metadata.get("pattern")
    # The whole value must match, as the service applies the pattern (service_rules, shared with the emulator).
    if pattern and not model_pattern_matches(pattern, value):
        raise FieldError(f"{path}: does not match the pattern {pattern}")
    return value


def _list(shape: ListShape, value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise FieldError(f"{path}: must be a list")
    low, high = _bounds(shape)
    if len(value) < low or (high is not None and len(value) > high):
        raise FieldError(f"{path}: must hold {low}..{high} entries, got {len(value)}")
    return [coerce(shape.member, entry, f"{path}[{index}]") for index, entry in enumerate(value)]


def _float(value: Any, path: str) -> float:
    number = to_number(value)
    if number is None or not math.isfinite(number):
        raise FieldError(f"{path}: must be a finite number")
    return float(number)


def _integer(value: Any, path: str) -> int:
    number = to_number(value)
    if number is None or not float(number).is_integer():
        raise FieldError(f"{path}: must be an integer")
    return int(number)


def to_number(value: Any) -> int | float | None:
    """A JSON number or a numeric string as a number; None for anything else (booleans included)."""
    if isinstance(value, bool):
        return None
    number: int | float
    if isinstance(value, int | float):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                return None
    else:
        return None
    # A whole number beyond the float range (JSON allows any number of digits) would raise OverflowError in
    # every later float() or isfinite(); no Personalize field can hold it, so it is simply not a number here.
    try:
        return number if math.isfinite(float(number)) else None
    except OverflowError:
        return None


def parse_timestamp(value: Any, path: str) -> int:
    """Epoch seconds (number or numeric string) or an ISO-8601 string → whole epoch seconds."""
    number = to_number(value)
    if number is not None:
        if not math.isfinite(number) or number < 0:
            raise FieldError(f"{path}: must be non-negative epoch seconds")
        if number > _MAX_EPOCH_SECONDS:
            raise FieldError(f"{path}: must be epoch seconds (this looks like milliseconds)")
        return int(number)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise FieldError(f"{path}: must be epoch seconds or an ISO-8601 timestamp") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = int(moment.timestamp())
        if not 0 <= seconds <= _MAX_EPOCH_SECONDS:
            raise FieldError(f"{path}: must be between 1970 and 2286")
        return seconds
    raise FieldError(f"{path}: must be epoch seconds or an ISO-8601 timestamp")
