"""The message contract as a file: ``schemas/contract/message.schema.json`` agrees with the handler, the README
and the test fixtures (docs/contracts.md §1).

The handler (``ingest.decode`` + ``ingest.validate``) is the reference for what is valid. The schema covers the
message itself, so "valid" here means the handler does not dead-letter the body as ``MalformedMessage``:
``SchemaViolation`` (properties against a dataset's Avro schema) is a deployment's business, not the contract's.
Envelopes are unwrapped before the schema validates the change inside, as the schema's description says.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from botocore.model import ListShape, Shape, StructureShape
from jsonschema import Draft202012Validator

from ingest.decode import Message, decode
from ingest.errors import ErrorCode, RejectedRecord
from ingest.kinds import KINDS
from ingest.model import api_models
from ingest.schema import DatasetSchema
from ingest.validate import validate
from tests.support import sqs_events

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "schemas" / "contract" / "message.schema.json"
README = ROOT / "README.md"
ACCEPTED = "accepted"
MALFORMED = str(ErrorCode.MALFORMED_MESSAGE)
# decode unwraps at most this many envelopes (ingest.decode._MAX_ENVELOPES).
MAX_ENVELOPES = 3
_NOT_AN_ENVELOPE = object()


# --- the two judges ---------------------------------------------------------------------------------------------


@cache
def contract() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


@cache
def dataset_schemas() -> dict[str, DatasetSchema]:
    return {
        kind: DatasetSchema.parse(
            (ROOT / "schemas" / spec.spec.schema_file).read_text(encoding="utf-8"),
            request_fields=spec.request_schema_fields,
            string_limit=spec.string_value_limit,
        )
        for kind, spec in KINDS.items()
    }


def as_body(message: Any) -> str:
    return message if isinstance(message, str) else json.dumps(message)


def handler_verdict(message: Any) -> str:
    """``accepted``, or the dead-letter code the real decode + validate give the body (repo's Avro schemas)."""
    body = as_body(message)
    try:
        change = decode(Message(message_id="m-1", body=body, position=0, receive_count=1, sent_timestamp=0))
        validate(change, api_models()[change.kind.name], dataset_schemas()[change.kind.name])
    except RejectedRecord as rejection:
        return str(rejection.code)
    return ACCEPTED


def unwrap(document: Any) -> Any:
    """The change inside an SNS or EventBridge envelope, by the rules the schema's description states."""
    if not isinstance(document, dict) or "type" in document:
        return _NOT_AN_ENVELOPE
    if document.get("Type") == "Notification" and "TopicArn" in document and isinstance(document.get("Message"), str):
        return json.loads(document["Message"])
    if {"source", "detail-type", "detail"} <= document.keys():
        detail = document["detail"]
        return json.loads(detail) if isinstance(detail, str) else detail
    return _NOT_AN_ENVELOPE


def schema_verdict(message: Any) -> bool:
    """Whether the body fits the contract: parsed, envelopes unwrapped, the change validated by the schema."""
    try:
        document = json.loads(as_body(message))
        for _ in range(MAX_ENVELOPES):
            inner = unwrap(document)
            if inner is _NOT_AN_ENVELOPE:
                break
            document = inner
    except ValueError:
        return False
    return contract().is_valid(document)


def errors_of(document: Any) -> list[str]:
    return [error.message for error in contract().iter_errors(document)]


# --- corpus -----------------------------------------------------------------------------------------------------

EVENT = {"type": "event", "sessionId": "s-1", "eventType": "click", "sentAt": 1763805600}
ACTION_INTERACTION = {
    "type": "actionInteraction",
    "actionId": "a-7",
    "sessionId": "s-1",
    "eventType": "Taken",
    "timestamp": 1763805600,
}


def sns(change: Any) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:changes",
        "Message": as_body(change),
        "Timestamp": "2026-11-22T10:00:00.000Z",
    }


def eventbridge(detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "ItemChanged",
        "source": "com.example.catalog",
        "account": "123456789012",
        "time": "2026-11-22T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


VALID: dict[str, Any] = {
    "item-list-categorical": {"type": "item", "itemId": "sku-123", "properties": {"price": 19.99, "genres": ["A"]}},
    "item-properties-as-string": {"type": "item", "itemId": "sku-1", "properties": '{"price": "9.99"}'},
    "item-schema-field-names": {"type": "item", "itemId": "sku-1", "properties": {"PRICE": 1, "IN_STOCK": "true"}},
    "item-id-256-chars": {"type": "item", "itemId": "i" * 256, "properties": {"price": 1}},
    "item-id-1-char-non-ascii": {"type": "item", "itemId": "é", "properties": {"price": 1}},
    "item-id-containing-null": {"type": "item", "itemId": "nullable-1", "properties": {"price": 1}},
    "item-id-padded": {"type": "item", "itemId": " sku-1 ", "properties": {"price": 1}},
    "item-id-surrogate-pair-escape": '{"type": "item", "itemId": "sku-\\ud83d\\ude00", "properties": {"price": 1}}',
    # No properties: the items dataset needs PRICE, a SchemaViolation, which is the deployment's business.
    "item-without-properties": {"type": "item", "itemId": "sku-1"},
    "item-properties-null": {"type": "item", "itemId": "sku-1", "properties": None},
    "action-expiration-timestamp": {
        "type": "action",
        "actionId": "a-7",
        "properties": {"value": 100, "expirationTimestamp": 1767225600},
    },
    "action-numeric-string-value": {"type": "action", "actionId": "a-7", "properties": {"value": "100"}},
    "user": {"type": "user", "userId": "u-1", "properties": {"membershipType": "gold"}},
    "event-readme": {
        **EVENT,
        "userId": "u-1",
        "itemId": "sku-123",
        "sentAt": "2026-11-22T10:00:00Z",
        "eventId": "e-42",
        "eventValue": 1.0,
        "properties": {},
    },
    "event-minimal": EVENT,
    "event-sent-at-float": {**EVENT, "sentAt": 1763805600.75},
    "event-sent-at-numeric-string": {**EVENT, "sentAt": "1763805600"},
    "event-sent-at-zero": {**EVENT, "sentAt": 0},
    "event-sent-at-largest-seconds": {**EVENT, "sentAt": 9_999_999_999},
    "event-sent-at-iso-date": {**EVENT, "sentAt": "2026-11-22"},
    "event-sent-at-iso-offset": {**EVENT, "sentAt": "2026-11-22T10:00:00+01:00"},
    "event-sent-at-iso-fraction-space": {**EVENT, "sentAt": "2026-11-22 10:00:00.123Z"},
    "event-sent-at-iso-minutes-no-zone": {**EVENT, "sentAt": "2026-11-22T10:00"},
    "event-value-numeric-string": {**EVENT, "eventValue": "2.5"},
    "event-value-exponent-string": {**EVENT, "eventValue": "-1e3"},
    "event-value-negative": {**EVENT, "eventValue": -3},
    "event-impression-25": {**EVENT, "impression": [f"sku-{n}" for n in range(25)]},
    "event-recommendation-id-40": {**EVENT, "recommendationId": "r" * 40},
    "event-metric-attribution": {**EVENT, "metricAttribution": {"eventAttributionSource": "email campaign"}},
    "event-optional-fields-null": {
        **EVENT,
        **dict.fromkeys(
            ("userId", "eventId", "eventValue", "itemId", "recommendationId", "impression", "metricAttribution")
        ),
        "properties": None,
    },
    "event-properties-categorical": {**EVENT, "properties": {"device": "mobile"}},
    "action-interaction-readme": {**ACTION_INTERACTION, "userId": "u-1"},
    "action-interaction-full": {
        **ACTION_INTERACTION,
        "timestamp": "2025-11-22T10:00:00Z",
        "eventId": "ai-1",
        "recommendationId": "r-1",
        "impression": ["a-7", "a-8"],
        "properties": {"channel": "email"},
    },
    "item-changed-at-epoch-milliseconds": {
        "type": "item",
        "itemId": "sku-1",
        "properties": {"price": 1},
        "changedAt": 1_763_805_600_123,
    },
    "user-changed-at-iso": {"type": "user", "userId": "u-1", "changedAt": "2026-11-22T10:00:00.5+01:00"},
    "action-changed-at-null": {"type": "action", "actionId": "a-7", "properties": {"value": 1}, "changedAt": None},
    "event-changed-at-accepted-unused": {**EVENT, "changedAt": 1_763_805_600_000},
    "sns-envelope": sns({"type": "user", "userId": "u-1", "properties": {"membershipType": "gold"}}),
    "eventbridge-detail-object": eventbridge({"type": "item", "itemId": "sku-1", "properties": {"price": 1}}),
    "eventbridge-detail-string": eventbridge(json.dumps(EVENT)),
    "sns-inside-eventbridge": eventbridge(sns(EVENT)),
}

INVALID: dict[str, Any] = {
    "not-json": "{not json",
    "json-array": "[1, 2]",
    "json-string": '"item"',
    "type-missing": {"itemId": "sku-1"},
    "type-unknown": {"type": "product", "itemId": "sku-1"},
    "type-wrong-case": {"type": "Item", "itemId": "sku-1"},
    "type-not-a-string": {"type": 7, "itemId": "sku-1"},
    "item-id-missing": {"type": "item", "properties": {"price": 1}},
    "item-id-null": {"type": "item", "itemId": None},
    "item-id-empty": {"type": "item", "itemId": ""},
    "item-id-257-chars": {"type": "item", "itemId": "i" * 257},
    "item-id-a-number": {"type": "item", "itemId": 123},
    "item-unknown-field": {"type": "item", "itemId": "sku-1", "price": 1},
    "item-properties-a-number": {"type": "item", "itemId": "sku-1", "properties": 5},
    "item-properties-a-list": {"type": "item", "itemId": "sku-1", "properties": [{"price": 1}]},
    "item-properties-string-not-json": {"type": "item", "itemId": "sku-1", "properties": "price=1"},
    "item-properties-string-json-array": {"type": "item", "itemId": "sku-1", "properties": "[1]"},
    "user-with-item-id": {"type": "user", "itemId": "u-1"},
    "event-sent-at-missing": {key: value for key, value in EVENT.items() if key != "sentAt"},
    "event-session-id-missing": {key: value for key, value in EVENT.items() if key != "sessionId"},
    "event-session-id-empty": {**EVENT, "sessionId": ""},
    "event-type-257-chars": {**EVENT, "eventType": "e" * 257},
    "event-sent-at-milliseconds": {**EVENT, "sentAt": 1_763_805_600_000},
    "event-sent-at-negative": {**EVENT, "sentAt": -1},
    "event-sent-at-words": {**EVENT, "sentAt": "yesterday"},
    "event-sent-at-month-13": {**EVENT, "sentAt": "2026-13-01T10:00:00Z"},
    "event-sent-at-lowercase-zone": {**EVENT, "sentAt": "2026-11-22T10:00:00z"},
    "event-sent-at-boolean": {**EVENT, "sentAt": True},
    "event-value-words": {**EVENT, "eventValue": "high"},
    "event-value-boolean": {**EVENT, "eventValue": True},
    "event-impression-empty": {**EVENT, "impression": []},
    "event-impression-26": {**EVENT, "impression": [f"sku-{n}" for n in range(26)]},
    "event-impression-empty-id": {**EVENT, "impression": ["sku-1", ""]},
    "event-impression-a-string": {**EVENT, "impression": "sku-1|sku-2"},
    "event-recommendation-id-41": {**EVENT, "recommendationId": "r" * 41},
    "event-metric-attribution-no-source": {**EVENT, "metricAttribution": {}},
    "event-metric-attribution-extra": {**EVENT, "metricAttribution": {"eventAttributionSource": "x", "y": 1}},
    "event-metric-attribution-blank": {**EVENT, "metricAttribution": {"eventAttributionSource": "   "}},
    "event-metric-attribution-1025": {**EVENT, "metricAttribution": {"eventAttributionSource": "s" * 1025}},
    "event-with-timestamp-field": {**EVENT, "timestamp": 1763805600},
    "event-with-tracking-id": {**EVENT, "trackingId": "t-1"},
    "action-interaction-timestamp-missing": {
        key: value for key, value in ACTION_INTERACTION.items() if key != "timestamp"
    },
    "action-interaction-sent-at-instead": {
        **{key: value for key, value in ACTION_INTERACTION.items() if key != "timestamp"},
        "sentAt": 1763805600,
    },
    "action-interaction-with-item-id": {**ACTION_INTERACTION, "itemId": "sku-1"},
    "item-changed-at-epoch-seconds": {"type": "item", "itemId": "sku-1", "changedAt": 1_763_805_600},
    "item-changed-at-words": {"type": "item", "itemId": "sku-1", "changedAt": "yesterday"},
    "user-changed-at-fraction-of-a-millisecond": {"type": "user", "userId": "u-1", "changedAt": 1_763_805_600_000.5},
    "user-changed-at-boolean": {"type": "user", "userId": "u-1", "changedAt": True},
    "action-changed-at-past-9999": {"type": "action", "actionId": "a-7", "changedAt": 253_402_300_800_000},
    "sns-message-not-json": {**sns({}), "Message": "{not json"},
    "sns-change-invalid": sns({"type": "item"}),
    "eventbridge-detail-without-type": eventbridge({"itemId": "sku-1"}),
    "envelope-nested-too-deep": eventbridge(eventbridge(eventbridge(eventbridge(EVENT)))),
    # aws-sdk-js#3371: a stringified null/undefined or a blank id is accepted by the service and silently lost.
    "event-session-id-null-string": {**EVENT, "sessionId": "null"},
    "event-session-id-undefined-any-case": {**EVENT, "sessionId": "UnDefined"},
    "event-session-id-whitespace": {**EVENT, "sessionId": " \t "},
    "event-user-id-null-string": {**EVENT, "userId": "NULL"},
    "event-item-id-blank": {**EVENT, "itemId": "   "},
    "event-id-undefined": {**EVENT, "eventId": "undefined"},
    "event-impression-null-string-id": {**EVENT, "impression": ["sku-1", "null"]},
    "event-recommendation-id-null-string": {**EVENT, "recommendationId": "null"},
    "item-id-null-string": {"type": "item", "itemId": "null", "properties": {"price": 1}},
    "action-id-padded-undefined": {"type": "action", "actionId": " undefined ", "properties": {"value": 1}},
    "user-id-blank": {"type": "user", "userId": "\n", "properties": {"membershipType": "gold"}},
    "action-interaction-session-id-null-string": {**ACTION_INTERACTION, "sessionId": "null"},
    "sns-change-with-null-string-id": sns({"type": "user", "userId": "null"}),
}


@pytest.mark.parametrize("message", VALID.values(), ids=VALID.keys())
def test_contract_valid_message_accepted_by_schema_and_handler(message: Any) -> None:
    assert schema_verdict(message), errors_of(json.loads(as_body(message)))
    assert handler_verdict(message) != MALFORMED


@pytest.mark.parametrize("message", INVALID.values(), ids=INVALID.keys())
def test_contract_invalid_message_rejected_by_schema_and_handler_as_malformed(message: Any) -> None:
    assert not schema_verdict(message)
    assert handler_verdict(message) == MALFORMED


def test_contract_valid_corpus_fits_repo_datasets_except_missing_properties() -> None:
    # The valid corpus fits the repo's datasets too, so the handler's verdict is "accepted", not a SchemaViolation
    # that would hide a MalformedMessage check it never reached; the two exceptions show where the contract ends.
    verdicts = {name: handler_verdict(message) for name, message in VALID.items()}

    assert {name: verdict for name, verdict in verdicts.items() if verdict != ACCEPTED} == {
        "item-without-properties": str(ErrorCode.SCHEMA_VIOLATION),
        "item-properties-null": str(ErrorCode.SCHEMA_VIOLATION),
    }
    assert len(VALID) >= 30
    assert len(INVALID) >= 30


# Where the two judges differ by design. JSON Schema cannot see inside a JSON string, measure a serialised size
# or compare a number with float range: those checks stay with the handler, and the schema's description says so.
SCHEMA_ACCEPTS_HANDLER_REJECTS: dict[str, Any] = {
    "properties-string-braces-not-json": {"type": "item", "itemId": "sku-1", "properties": "{price}"},
    "event-properties-over-1024-characters": {**EVENT, "properties": {"device": ["d" * 900, "e" * 900]}},
    "event-over-10-kb": {**EVENT, "impression": ["\U0001f600" * 256] * 25},
    "event-value-overflows-float": {**EVENT, "eventValue": "1e400"},
    "sent-at-impossible-date": {**EVENT, "sentAt": "2026-02-30"},
    # Half of a UTF-16 surrogate pair, spelled as a JSON escape: JSON allows it, it is not text, and no API
    # request can carry it. A JSON Schema validator sees a string like any other.
    "lone-surrogate-in-an-id": '{"type": "item", "itemId": "sku-\\ud800", "properties": {"price": 1}}',
    "lone-surrogate-in-a-property": '{"type": "user", "userId": "u-1", "properties": {"membershipType": "\\udfff"}}',
}

# Where the handler reads more generously than the contract promises: publishers should stick to the contract.
HANDLER_ACCEPTS_SCHEMA_REJECTS: dict[str, Any] = {
    "event-value-python-underscores": {**EVENT, "eventValue": "1_000"},
    "sent-at-with-surrounding-space": {**EVENT, "sentAt": " 2026-11-22T10:00:00Z "},
    "sent-at-iso-week-date": {**EVENT, "sentAt": "2026-W47-1"},
    "sent-at-iso-basic-format": {**EVENT, "sentAt": "20261122T100000Z"},
    "sent-at-exponent-string": {**EVENT, "sentAt": "1.7e9"},
}


@pytest.mark.parametrize("message", SCHEMA_ACCEPTS_HANDLER_REJECTS.values(), ids=SCHEMA_ACCEPTS_HANDLER_REJECTS.keys())
def test_contract_gap_schema_cannot_express_rule_handler_rejects_as_malformed(message: Any) -> None:
    assert schema_verdict(message)
    assert handler_verdict(message) == MALFORMED


@pytest.mark.parametrize("message", HANDLER_ACCEPTS_SCHEMA_REJECTS.values(), ids=HANDLER_ACCEPTS_SCHEMA_REJECTS.keys())
def test_contract_stricter_than_handler_schema_rejects_handler_tolerates(message: Any) -> None:
    assert not schema_verdict(message)
    assert handler_verdict(message) != MALFORMED


@pytest.mark.parametrize("field", ["sentAt", "eventValue"])
def test_contract_integer_beyond_float_range_rejected_by_both_as_malformed(field: str) -> None:
    body = as_body({**EVENT, field: 0}).replace(f'"{field}": 0', f'"{field}": 1' + "0" * 400)

    assert handler_verdict(body) == MALFORMED
    assert not schema_verdict(body)


# --- the schema against the handler's own tables ----------------------------------------------------------------


def test_contract_schema_is_valid_draft_2020_12() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))

    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_contract_kinds_match_handler_kind_table() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))

    assert schema["properties"]["type"]["enum"] == list(KINDS)
    assert [branch["$ref"] for branch in schema["oneOf"]] == [f"#/$defs/{kind}" for kind in KINDS]


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].removeprefix("#/$defs/")]
    return node


def _whole_value(pattern: str) -> str:
    """The model's ``pattern`` as the schema writes it: the service matches the whole value, and a final ``$`` in
    Python's re (which jsonschema uses) also matches before a final newline, so the schema ends in ``(?![\\s\\S])``."""
    return pattern.removesuffix("$") + r"(?![\s\S])" if pattern.endswith("$") else pattern


def _assert_bounds(schema: dict[str, Any], node: dict[str, Any], shape: Shape, path: str) -> None:
    node = _resolve(schema, node)
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if shape.type_name == "string":
        assert node.get("minLength") == low, path
        assert node.get("maxLength") == high, path
        if "pattern" in shape.metadata:
            assert node.get("pattern") == _whole_value(shape.metadata["pattern"]), path
    elif isinstance(shape, ListShape):
        assert (node.get("minItems"), node.get("maxItems")) == (low, high), path
        _assert_bounds(schema, node["items"], shape.member, f"{path}[]")
    elif isinstance(shape, StructureShape):
        assert set(node["properties"]) == set(shape.members), path
        assert set(node["required"]) == set(shape.required_members), path
        assert node["additionalProperties"] is False, path
        for name, member in shape.members.items():
            _assert_bounds(schema, node["properties"][name], member, f"{path}.{name}")


@pytest.mark.parametrize("kind", list(KINDS))
def test_contract_kind_fields_and_limits_match_botocore_model(kind: str) -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    definition = schema["$defs"][kind]
    api = api_models()[kind]
    members = {**api.record_shape.members, **api.call_fields}
    required = set(api.record_shape.required_members) | (api.call_required & set(api.call_fields))

    # changedAt is the pipeline's own member, not the API's: it orders changes and is never sent (docs/contracts.md
    # §1 "Ordering"). Optional on every kind.
    assert set(definition["properties"]) == {"type", "changedAt", *members}
    assert definition["properties"]["changedAt"] == {"$ref": "#/$defs/changedAt"}
    assert set(definition["required"]) == {"type", *required}
    assert definition["additionalProperties"] is False
    for name, shape in members.items():
        if name != "properties":  # the wire form is a string; the message carries an object (or a string)
            _assert_bounds(schema, definition["properties"][name], shape, f"{kind}.{name}")


# --- fixtures and README examples -------------------------------------------------------------------------------


# Factories in tests/support/sqs_events.py that wrap a change rather than make one.
_ENVELOPE_FACTORIES = {
    "sns_notification": sqs_events.sns_notification,
    "eventbridge_event": sqs_events.eventbridge_event,
}


def _fixture_factories() -> dict[str, Callable[..., Any]]:
    """Every contract-message factory in tests/support/sqs_events.py, so a new one is covered automatically."""
    return {
        name: function
        for name, function in inspect.getmembers(sqs_events, inspect.isfunction)
        if function.__module__ == sqs_events.__name__ and name not in {"sqs_record", "sqs_event", *_ENVELOPE_FACTORIES}
    }


@pytest.mark.parametrize("factory", _fixture_factories().values(), ids=_fixture_factories().keys())
def test_contract_fixture_factory_body_validates(factory: Callable[..., Any]) -> None:
    required = [
        name
        for name, parameter in inspect.signature(factory).parameters.items()
        if parameter.default is inspect.Parameter.empty and parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    body = factory(*(f"{name}-1" for name in required))

    assert contract().is_valid(body), errors_of(body)
    assert handler_verdict(body) == ACCEPTED


@pytest.mark.parametrize("envelope", _ENVELOPE_FACTORIES.values(), ids=_ENVELOPE_FACTORIES.keys())
def test_contract_fixture_envelope_around_a_valid_change_validates_after_unwrapping(
    envelope: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    body = envelope(sqs_events.user("u-1"))

    assert not contract().is_valid(body), "an envelope is not itself a change"
    assert schema_verdict(body)
    assert handler_verdict(body) == ACCEPTED


def readme_examples(text: str) -> list[tuple[str, Any]]:
    """Every JSON document in the README's ```json blocks: one per block, one per line, or several per block."""
    blocks = re.findall(r"^```json[ \t]*\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    decoder = json.JSONDecoder()
    examples = []
    for number, block in enumerate(blocks, start=1):
        position, count = 0, 0
        while True:
            while position < len(block) and block[position].isspace():
                position += 1
            if position >= len(block):
                break
            document, position = decoder.raw_decode(block, position)
            count += 1
            examples.append((f"block{number}-{count}", document))
    return examples


def _readme_messages() -> list[tuple[str, Any]]:
    if not README.exists():
        return []
    messages = []
    for name, document in readme_examples(README.read_text(encoding="utf-8")):
        inner = unwrap(document)
        change = document if inner is _NOT_AN_ENVELOPE else inner
        if isinstance(change, dict) and "type" in change:
            messages.append((name, change))
    return messages


def test_contract_readme_has_message_examples() -> None:
    assert _readme_messages(), "README.md has no ```json block holding a message with a type"


@pytest.mark.parametrize(
    "example", [message for _, message in _readme_messages()], ids=[name for name, _ in _readme_messages()]
)
def test_contract_readme_example_validates(example: Any) -> None:
    assert contract().is_valid(example), errors_of(example)
    assert handler_verdict(example) != MALFORMED


def test_contract_readme_examples_parse_one_per_line_and_multiline() -> None:
    text = (
        '```json\n{"type": "user", "userId": "u-1"}\n{"type": "user", "userId": "u-2"}\n```\n'
        '```bash\necho {"type": "x"}\n```\n'
        '```json\n{\n  "a": 1\n}\n```\n'
    )

    assert readme_examples(text) == [
        ("block1-1", {"type": "user", "userId": "u-1"}),
        ("block1-2", {"type": "user", "userId": "u-2"}),
        ("block2-1", {"a": 1}),
    ]
