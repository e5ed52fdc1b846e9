"""Requests checked, and responses shaped, by botocore's own service models.

botocore validates only required members, types and minimums before sending; the service enforces the rest
(maximum lengths, list sizes, patterns, enums, value ranges). This module enforces all of it, so an
over-long id or an eleventh record fails here as it would on AWS.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import botocore.session
from botocore.model import (
    ListShape,
    MapShape,
    OperationModel,
    OperationNotFoundError,
    ServiceModel,
    Shape,
    StringShape,
    StructureShape,
)

from service_rules import model_pattern_matches

CONTROL_SERVICE = "personalize"
EVENTS_SERVICE = "personalize-events"

Path = tuple[str | int, ...]
Labeler = Callable[[Path], str]


@dataclass(frozen=True)
class Violation:
    """One failed constraint: where (a path of member names and list indexes) and what."""

    path: Path
    message: str


@cache
def service_model(name: str) -> ServiceModel:
    """Return botocore's model of ``name`` (``personalize`` or ``personalize-events``), loaded once."""
    return botocore.session.get_session().get_service_model(name)


def control_operation(name: str) -> OperationModel | None:
    """Return the control-plane operation called ``name``, or ``None`` if the model has none."""
    try:
        return service_model(CONTROL_SERVICE).operation_model(name)
    except OperationNotFoundError:
        return None


@cache
def events_operation(method: str, path: str) -> OperationModel | None:
    """Return the data-plane operation bound to ``method path`` (``POST /items`` → PutItems), or ``None``."""
    model = service_model(EVENTS_SERVICE)
    for name in model.operation_names:
        operation = model.operation_model(name)
        if operation.http.get("method") == method and operation.http.get("requestUri") == path:
            return operation
    return None


def validate(shape: Shape, value: Any) -> tuple[Any, list[Violation]]:
    """Check ``value`` (decoded JSON) against ``shape`` and convert it to Python values.

    Timestamps become epoch seconds (float); members the shape does not define are dropped, as AWS's JSON
    services ignore them.

    Returns
    -------
    tuple
        The converted value and the violations found (empty when the value is valid).
    """
    violations: list[Violation] = []
    converted = _check(shape, value, (), violations)
    return converted, violations


def format_violations(violations: list[Violation], labeler: Labeler | None = None) -> str:
    """Return one message for ``violations`` in the service's words ("1 validation error detected: ...")."""
    label = labeler or format_path
    count = len(violations)
    noun = "error" if count == 1 else "errors"
    details = "; ".join(f"{label(v.path)}: {v.message}" for v in violations[:10])
    return f"{count} validation {noun} detected: {details}"


def format_path(path: Path) -> str:
    """Return ``("items", 3, "itemId")`` as ``items[3].itemId``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "request"


def serialize(shape: Shape | None, value: Any) -> Any:
    """Return ``value`` shaped as ``shape`` for a JSON response: only modeled members, timestamps as epochs.

    Raises
    ------
    ValueError
        If ``value`` carries a member the shape does not define: the emulator would answer with something
        botocore does not know, so this is a bug in the emulator.
    """
    if shape is None:
        return {}
    if isinstance(shape, StructureShape):
        unknown = set(value) - set(shape.members)
        if unknown:
            raise ValueError(f"{shape.name} has no members {sorted(unknown)}")
        return {
            name: serialize(member, value[name])
            for name, member in shape.members.items()
            if value.get(name) is not None
        }
    if isinstance(shape, ListShape):
        return [serialize(shape.member, item) for item in value]
    if isinstance(shape, MapShape):
        return {key: serialize(shape.value, item) for key, item in value.items()}
    if shape.type_name == "timestamp":
        # awsJson1.1 and restJson1 carry timestamps as epoch seconds (botocore's default for JSON protocols).
        return float(value)
    return value


def _check(shape: Shape, value: Any, path: Path, out: list[Violation]) -> Any:
    """Check one value against one shape, appending violations to ``out``; return the converted value."""
    if isinstance(shape, StructureShape):
        return _check_structure(shape, value, path, out)
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            out.append(Violation(path, "Member must be a list"))
            return value
        _check_length(shape, len(value), path, out)
        return [_check(shape.member, item, (*path, index), out) for index, item in enumerate(value)]
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            out.append(Violation(path, "Member must be a map"))
            return value
        _check_length(shape, len(value), path, out)
        return {key: _check(shape.value, item, (*path, key), out) for key, item in value.items()}
    return _check_scalar(shape, value, path, out)


def _check_scalar(shape: Shape, value: Any, path: Path, out: list[Violation]) -> Any:
    """Check a string, number, boolean or timestamp; return it converted (timestamps to epoch seconds)."""
    kind = shape.type_name
    if kind == "string":
        _check_string(shape, value, path, out)
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            out.append(Violation(path, "Member must be an integer"))
        else:
            _check_range(shape, value, path, out)
    elif kind in ("float", "double"):
        if not _is_number(value) or not math.isfinite(value):
            out.append(Violation(path, "Member must be a finite number"))
    elif kind == "boolean":
        if not isinstance(value, bool):
            out.append(Violation(path, "Member must be a boolean"))
    elif kind == "timestamp":
        # JSON protocols send epoch seconds; botocore sends whole seconds, other SDKs may send fractions.
        if not _is_number(value) or not math.isfinite(value):
            out.append(Violation(path, "Member must be a timestamp in epoch seconds"))
            return value
        return float(value)
    return value


def _check_structure(shape: StructureShape, value: Any, path: Path, out: list[Violation]) -> Any:
    """Check a structure: a JSON object with its required members present and each member valid."""
    if not isinstance(value, dict):
        out.append(Violation(path, "Member must be a structure"))
        return value
    out.extend(
        Violation((*path, name), "Member must not be null")
        for name in shape.required_members
        if value.get(name) is None
    )
    return {
        name: _check(member, value[name], (*path, name), out)
        for name, member in shape.members.items()
        if value.get(name) is not None
    }


def _check_string(shape: Shape, value: Any, path: Path, out: list[Violation]) -> None:
    """Check a string's type, length, enum and pattern."""
    if not isinstance(value, str):
        out.append(Violation(path, "Member must be a string"))
        return
    _check_length(shape, len(value), path, out)
    enum = shape.enum if isinstance(shape, StringShape) else []
    if enum and value not in enum:
        out.append(Violation(path, f"Member must satisfy enum value set: [{', '.join(enum)}]"))
    pattern = shape.metadata.get("pattern")
    # Whole-value matching, as the service applies it (service_rules, shared with the ingest Lambda).
    if pattern and not model_pattern_matches(pattern, value):
        out.append(Violation(path, f"Member must satisfy regular expression pattern: {pattern}"))


def _check_length(shape: Shape, length: int, path: Path, out: list[Violation]) -> None:
    """Check a string's or collection's length against the shape's ``min`` and ``max``."""
    minimum, maximum = shape.metadata.get("min"), shape.metadata.get("max")
    if minimum is not None and length < minimum:
        out.append(Violation(path, f"Member must have length greater than or equal to {minimum}"))
    if maximum is not None and length > maximum:
        out.append(Violation(path, f"Member must have length less than or equal to {maximum}"))


def _check_range(shape: Shape, value: int, path: Path, out: list[Violation]) -> None:
    """Check a number against the shape's ``min`` and ``max`` (values, for numeric shapes)."""
    minimum, maximum = shape.metadata.get("min"), shape.metadata.get("max")
    if minimum is not None and value < minimum:
        out.append(Violation(path, f"Member must have value greater than or equal to {minimum}"))
    if maximum is not None and value > maximum:
        out.append(Violation(path, f"Member must have value less than or equal to {maximum}"))


def _is_number(value: Any) -> bool:
    """Return whether ``value`` is a JSON number (``bool`` is an ``int`` in Python, but not in JSON)."""
    return isinstance(value, int | float) and not isinstance(value, bool)
