"""A validated change → one CSV row in the dataset schema's columns, and a CSV input's row → the same.

The ingest Lambda turns a change into the record a Put* API takes (``ingest.validate.ValidRecord``); a bulk import
takes the same data as a row of schema fields. The record's members map onto the schema's reserved columns (the
mapping the emulator reads back with, ``local/emulator/bulk.py``), and ``properties`` (camelCase, as the Lambda
sends them) onto the schema fields they name. A member the schema has no column for (``sessionId``, an
``eventValue`` without EVENT_VALUE) is not written: Personalize keeps only schema fields of a Put* record too.

Every row is checked cell by cell with ``import_rules.parse_value``, the rule the import reads with, so a row this
module returns is one an import job accepts; one it cannot is a :class:`~ingest.errors.RejectedRecord`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from bulk.targets import Target
from contract import ErrorCode
from import_rules import Column, format_value, parse_value
from ingest.errors import RejectedRecord
from ingest.validate import PLACEHOLDER_IDS, ValidRecord

# Record members (and PutEvents' request-level userId) → the schema's reserved columns, by kind.
_EVENT_MEMBERS: Final = {
    "userId": "USER_ID",
    "eventType": "EVENT_TYPE",
    "eventId": "EVENT_ID",
    "recommendationId": "RECOMMENDATION_ID",
    "impression": "IMPRESSION",
}
MEMBER_COLUMNS: Final[Mapping[str, Mapping[str, str]]] = {
    "item": {"itemId": "ITEM_ID"},
    "action": {"actionId": "ACTION_ID"},
    "user": {"userId": "USER_ID"},
    "event": {**_EVENT_MEMBERS, "itemId": "ITEM_ID", "sentAt": "TIMESTAMP", "eventValue": "EVENT_VALUE"},
    "actionInteraction": {**_EVENT_MEMBERS, "actionId": "ACTION_ID", "timestamp": "TIMESTAMP"},
}
# PutEvents' metricAttribution.eventAttributionSource is the Interactions schema's EVENT_ATTRIBUTION_SOURCE.
ATTRIBUTION_COLUMN: Final = "EVENT_ATTRIBUTION_SOURCE"
ID_COLUMNS: Final = frozenset({"USER_ID", "ITEM_ID", "ACTION_ID"})


def row_of(valid: ValidRecord, target: Target) -> dict[str, Any]:
    """Return a validated change as a row (field name → value) of ``target``'s schema.

    Raises
    ------
    RejectedRecord
        ``SchemaViolation`` when a non-nullable column gets no value (an event without ``userId`` for a schema
        whose USER_ID is required) or a value the bulk format cannot carry.
    """
    kind = target.kind.name
    members = {**dict(valid.call_fields), **valid.record}
    row: dict[str, Any] = {}
    for member, column in MEMBER_COLUMNS[kind].items():
        if members.get(member) is not None:
            row[column] = members[member]
    attribution = members.get("metricAttribution")
    if isinstance(attribution, Mapping):
        row[ATTRIBUTION_COLUMN] = attribution.get("eventAttributionSource")
    properties = members.get("properties")
    if properties:
        by_property = target.field_by_property
        for key, value in json.loads(properties).items():
            row[by_property[key]] = value
    return checked(row, target.columns, where=lambda column: _member_name(kind, column))


def _member_name(kind: str, column: str) -> str:
    """How a problem names a column: the change's own member where it has one (``userId``), else the field."""
    for member, mapped in MEMBER_COLUMNS[kind].items():
        if mapped == column:
            return member
    return f"properties.{column}"


def checked(row: Mapping[str, Any], schema_columns: Sequence[Column], *, where: Any = None) -> dict[str, Any]:
    """Keep a row's schema columns, check every cell as the import reads it, and return the row.

    ``where`` names a column in a problem (default: the column's own name).

    Raises
    ------
    RejectedRecord
        ``SchemaViolation``: a non-nullable column without a value, a cell the import would refuse; a line break
        in a value (one record per line: no CSV cell of a bulk file may hold one) or a placeholder id.
    """
    result: dict[str, Any] = {}
    for column in schema_columns:
        value = row.get(column.name)
        name = where(column.name) if where else column.name
        if value is None:
            if not column.nullable:
                raise RejectedRecord(
                    ErrorCode.SCHEMA_VIOLATION, f"{name}: required, {column.name} is not nullable in the schema"
                )
            continue
        cell = format_value(column, value)
        if "\n" in cell or "\r" in cell:
            raise RejectedRecord(
                ErrorCode.SCHEMA_VIOLATION, f"{name}: holds a line break, which a bulk CSV record cannot carry"
            )
        if column.name in ID_COLUMNS and cell.strip().lower() in PLACEHOLDER_IDS:
            raise RejectedRecord(
                ErrorCode.MALFORMED_MESSAGE, f'{name}: must not be blank, "null" or "undefined" (a placeholder)'
            )
        _, problem = parse_value(column, cell)
        if problem:
            raise RejectedRecord(ErrorCode.SCHEMA_VIOLATION, f"{name}: {problem}")
        result[column.name] = value
    return result
