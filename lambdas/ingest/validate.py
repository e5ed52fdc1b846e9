"""Step 2, validate: a change → the exact API record, or a rejection with its dead-letter code.

Two sources of truth: botocore's model for the API's own limits (ingest.model) and the dataset's Avro schema
for ``properties`` (ingest.schema). Nothing that would fail on the service for a reason we can see reaches it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from contract import ErrorCode
from ingest.decode import Change, lone_surrogate, may_hold_surrogate
from ingest.errors import RejectedRecord
from ingest.model import PROPERTIES, ApiModel, FieldError, coerce_members, coerce_structure
from ingest.schema import DatasetSchema
from service_rules import MAX_EVENT_BYTES, event_size

# docs/personalize.md §2: one event or action interaction is at most 10 KB, counted as service_rules.event_size
# counts it (the emulator counts the same way).
__all__ = ["MAX_EVENT_BYTES", "ValidRecord", "validate"]
EVENT_ID = "eventId"
IMPRESSION = "impression"
# What an id collapses to when a client stringified a missing value, compared after strip() and lower().
PLACEHOLDER_IDS = frozenset({"", "null", "undefined"})


@dataclass(frozen=True, slots=True)
class ValidRecord:
    """A change that fits its API and its schema, in wire form.

    ``call_fields`` are the request members outside the record list (PutEvents' sessionId and userId): records
    can share a call only when these are equal. ``collapse_key`` is the record id of upsert kinds.
    """

    change: Change
    record: dict[str, Any]
    call_fields: tuple[tuple[str, Any], ...]
    collapse_key: str | None


def validate(change: Change, api: ApiModel, schema: DatasetSchema) -> ValidRecord:
    """Check ``change`` against its API's model and dataset schema.

    Raises
    ------
    RejectedRecord
        ``MalformedMessage`` for a missing, unknown, mistyped or oversized field; ``SchemaViolation`` for
        properties that do not fit the dataset's schema.
    """
    kind = change.kind
    fields = dict(change.fields)
    if kind.derive_event_id and fields.get(EVENT_ID) is None:
        # A deterministic id makes redelivery idempotent: Personalize ignores repeated eventIds in training. A copy
        # sent back from the DLQ carries its original's id, so it derives the same eventId as the original did.
        # The message id, not a FIFO queue's deduplication id: that one does not survive a trip through the DLQ (the
        # handler's dead letter and the DLQ tool's copy name the message id), so an event first sent under its
        # deduplication id would come back under another eventId and count twice.
        message = change.message
        fields[EVENT_ID] = message.source_message_id or message.message_id
    call_values = {name: fields.pop(name) for name in api.call_fields if name in fields}
    try:
        call_fields = coerce_members(api.call_fields, api.call_required, call_values, "")
        record = coerce_structure(api.record_shape, fields, "", skip=frozenset({PROPERTIES}))
        _reject_placeholder_ids({**call_fields, **record})
    except FieldError as exc:
        raise RejectedRecord(ErrorCode.MALFORMED_MESSAGE, str(exc)) from None
    properties = _normalized_properties(record.pop(PROPERTIES, None), api, schema)
    if properties is not None:
        record[PROPERTIES] = properties
    if kind.derive_event_id:
        size = event_size(record, call_fields)
        if size > MAX_EVENT_BYTES:
            raise RejectedRecord(
                ErrorCode.MALFORMED_MESSAGE, f"{kind.name}: {size} bytes, the limit is {MAX_EVENT_BYTES}"
            )
    collapse_key = str(record[kind.id_field]) if kind.id_field else None
    return ValidRecord(
        change=change, record=record, call_fields=tuple(sorted(call_fields.items())), collapse_key=collapse_key
    )


def _reject_placeholder_ids(fields: dict[str, Any]) -> None:
    """Refuse an id that is blank or a client's spelling of a missing value ("null", "undefined").

    PutEvents with sessionId "null" answers 200 and the event is silently ignored (docs/personalize.md §1,
    aws-sdk-js#3371): acknowledging it would lose it without a trace. Such ids come from a publisher stringifying
    null/undefined or sending an empty form field; no real id looks like that. The contract schema
    (schemas/contract/message.schema.json, ``$defs/id``) states the same rule.
    """
    for name, value in fields.items():
        if name == IMPRESSION and isinstance(value, list):  # a list of item ids
            entries = [(f"{name}[{index}]", entry) for index, entry in enumerate(value)]
        elif name.endswith("Id"):  # itemId, userId, sessionId, eventId, recommendationId, ...
            entries = [(name, value)]
        else:
            continue
        for where, entry in entries:
            if isinstance(entry, str) and entry.strip().lower() in PLACEHOLDER_IDS:
                raise FieldError(f'{where}: must not be blank, "null" or "undefined" (a placeholder, not an id)')


def _normalized_properties(raw: Any, api: ApiModel, schema: DatasetSchema) -> str | None:
    kind = api.kind
    if raw is None:
        values: dict[str, Any] = {}
    elif isinstance(raw, dict):
        values = raw
    elif isinstance(raw, str):
        try:
            values = json.loads(raw)
        except (ValueError, RecursionError):
            raise RejectedRecord(ErrorCode.MALFORMED_MESSAGE, "properties: a string must hold a JSON object") from None
        if not isinstance(values, dict):
            raise RejectedRecord(ErrorCode.MALFORMED_MESSAGE, "properties: must be a JSON object")
        # decode checked the message, where this string's escapes were still ASCII text; parsed, "\ud800" is half
        # a surrogate pair, which no encoder accepts: not text, so never sent (and never named in a reason).
        surrogate = lone_surrogate(values) if may_hold_surrogate(raw) else None
        if surrogate is not None:
            where = {"a key": "a key of properties"}.get(surrogate) or (
                f"a key of properties.{surrogate[len('a key of ') :]}"
                if surrogate.startswith("a key of ")
                else f"properties.{surrogate}"
            )
            raise RejectedRecord(
                ErrorCode.MALFORMED_MESSAGE,
                f"{where} holds an unpaired UTF-16 surrogate escape (\\ud800-\\udfff), which is not text",
            )
    else:
        raise RejectedRecord(ErrorCode.MALFORMED_MESSAGE, "properties: must be a JSON object")
    forbidden = sorted(key for key in values if key.replace("_", "").lower() in kind.forbidden_property_keys)
    if forbidden:
        raise RejectedRecord(
            ErrorCode.SCHEMA_VIOLATION, f"properties.{forbidden[0]}: reserved; send it as a field of the {kind.name}"
        )
    normalized = schema.typed(values)
    if not normalized:
        return None
    text = json.dumps(normalized, separators=(",", ":"), ensure_ascii=False)
    if api.properties_max is not None and len(text) > api.properties_max:
        raise RejectedRecord(
            ErrorCode.MALFORMED_MESSAGE,
            f"properties: {len(text)} characters, the limit for {api.kind.api} is {api.properties_max}",
        )
    schema.check_values(normalized)
    return text
