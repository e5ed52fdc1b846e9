"""Step 2, validate: API limits from botocore's model and the dataset's schema, before anything is sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ingest.decode import Message, decode
from ingest.errors import ErrorCode, RejectedRecord
from ingest.kinds import KINDS
from ingest.model import api_models
from ingest.schema import DatasetSchema
from ingest.validate import MAX_EVENT_BYTES, ValidRecord, validate
from tests.support.sqs_events import action, action_interaction, event, item, sqs_record

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def schema_for(kind: str) -> DatasetSchema:
    spec = KINDS[kind]
    return DatasetSchema.parse(
        (SCHEMAS / spec.spec.schema_file).read_text(),
        request_fields=spec.request_schema_fields,
        string_limit=spec.string_value_limit,
    )


def check(body: dict[str, Any], **record_kwargs: Any) -> ValidRecord:
    change = decode(Message.from_record(sqs_record(body, **record_kwargs), 0))  # type: ignore[arg-type]
    return validate(change, api_models()[change.kind.name], schema_for(change.kind.name))


def rejected(body: dict[str, Any]) -> RejectedRecord:
    with pytest.raises(RejectedRecord) as caught:
        check(body)
    return caught.value


def test_validate_item_returns_wire_record_with_properties_as_camel_case_json_string() -> None:
    valid = check(item("sku-1", GENRES=["Horror", "Action"], numberOfRatings="12"))

    assert valid.record["itemId"] == "sku-1"
    assert json.loads(valid.record["properties"]) == {"price": 9.99, "genres": "Horror|Action", "numberOfRatings": 12}
    assert valid.collapse_key == "sku-1"
    assert valid.call_fields == ()


def test_validate_properties_given_as_json_string_are_accepted() -> None:
    body = {"type": "action", "actionId": "a-1", "properties": json.dumps({"value": 5})}

    assert json.loads(check(body).record["properties"]) == {"value": 5}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"type": "item", "properties": {"price": 1}}, "itemId: required"),
        ({"type": "item", "itemId": "", "properties": {"price": 1}}, "itemId: length must be 1..256"),
        ({"type": "item", "itemId": "x" * 257, "properties": {"price": 1}}, "got 257"),
        ({"type": "item", "itemId": 123, "properties": {"price": 1}}, "itemId: must be a string"),
        ({"type": "item", "itemId": "a", "itemID": "b", "properties": {"price": 1}}, "itemID: unknown field"),
        ({"type": "item", "itemId": "a", "properties": [1]}, "properties: must be a JSON object"),
        ({"type": "item", "itemId": "a", "properties": "{broken"}, "a string must hold a JSON object"),
    ],
)
def test_validate_missing_or_mistyped_field_is_malformed_message(body: dict[str, Any], expected: str) -> None:
    rejection = rejected(body)

    assert rejection.code is ErrorCode.MALFORMED_MESSAGE
    assert expected in rejection.message


def test_validate_id_of_256_chars_is_accepted() -> None:
    assert check(item("x" * 256)).record["itemId"] == "x" * 256


def test_validate_oversized_properties_is_malformed_message_naming_the_limit() -> None:
    rejection = rejected(item("sku-big", description="x" * 33_000))

    assert rejection.code is ErrorCode.MALFORMED_MESSAGE
    assert "the limit for PutItems is 32000" in rejection.message


def test_validate_schema_violation_is_reported_as_schema_violation() -> None:
    rejection = rejected(action("a-1", colour="red"))

    assert rejection.code is ErrorCode.SCHEMA_VIOLATION


def test_validate_missing_properties_with_required_metadata_is_schema_violation() -> None:
    rejection = rejected({"type": "item", "itemId": "sku-1"})

    assert rejection.code is ErrorCode.SCHEMA_VIOLATION
    assert "PRICE" in rejection.message


def test_validate_event_splits_call_fields_and_converts_sent_at_to_epoch_seconds() -> None:
    valid = check(event("s-1", "u-1", "sku-1", eventValue="2.5", properties={"device": "mobile"}))

    assert dict(valid.call_fields) == {"sessionId": "s-1", "userId": "u-1"}
    assert valid.record["sentAt"] == 1795341600
    assert valid.record["eventValue"] == 2.5
    assert json.loads(valid.record["properties"]) == {"device": "mobile"}
    assert valid.collapse_key is None


def test_validate_event_without_event_id_derives_it_from_the_message_id() -> None:
    valid = check(event("s-1", "u-1", "sku-1"), message_id="0b9f3c0e-3e58-4c43-9d4d-4d0f7b1e6f0a")

    assert valid.record["eventId"] == "0b9f3c0e-3e58-4c43-9d4d-4d0f7b1e6f0a"


def test_validate_fifo_event_without_event_id_derives_it_from_the_message_id() -> None:
    valid = check(event("s-1", "u-1", "sku-1"), message_id="m-42", group_id="s-1", deduplication_id="dedup-42")

    assert valid.record["eventId"] == "m-42"


def test_validate_event_with_event_id_keeps_it() -> None:
    assert check(event("s-1", "u-1", "sku-1", eventId="e-1")).record["eventId"] == "e-1"


@pytest.mark.parametrize(
    ("fields", "code", "expected"),
    [
        ({"properties": {"userId": "u-2"}}, ErrorCode.SCHEMA_VIOLATION, "properties.userId: reserved"),
        ({"properties": {"EVENT_TYPE": "x"}}, ErrorCode.SCHEMA_VIOLATION, "reserved"),
        ({"recommendationId": "r" * 41}, ErrorCode.MALFORMED_MESSAGE, "recommendationId: length must be 1..40"),
        ({"impression": ["i"] * 26}, ErrorCode.MALFORMED_MESSAGE, "impression: must hold 1..25 entries"),
        ({"sentAt": "yesterday"}, ErrorCode.MALFORMED_MESSAGE, "sentAt: must be epoch seconds or an ISO-8601"),
        ({"sentAt": 1763805600000}, ErrorCode.MALFORMED_MESSAGE, "looks like milliseconds"),
        ({"sessionId": ""}, ErrorCode.MALFORMED_MESSAGE, "sessionId: length must be 1..256"),
        ({"eventValue": "much"}, ErrorCode.MALFORMED_MESSAGE, "eventValue: must be a finite number"),
        (
            {"metricAttribution": {"eventAttributionSource": " "}},
            ErrorCode.MALFORMED_MESSAGE,
            "eventAttributionSource: does not match the pattern",
        ),
    ],
)
def test_validate_event_limits_enforced_before_sending(fields: dict[str, Any], code: ErrorCode, expected: str) -> None:
    rejection = rejected(event("s-1", "u-1", "sku-1", **fields))

    assert rejection.code is code
    assert expected in rejection.message


def test_validate_event_properties_over_1024_chars_is_malformed() -> None:
    rejection = rejected(event("s-1", "u-1", "sku-1", properties={"device": ["d" * 600, "d" * 500]}))

    assert "the limit for PutEvents is 1024" in rejection.message


def test_validate_event_over_10_kb_is_malformed() -> None:
    body = event(
        "s" * 256,
        "u" * 256,
        "i" * 256,
        eventId="e" * 256,
        eventType="t" * 256,
        recommendationId="r" * 40,
        # Within every per-field limit (characters), but over 10 KB in UTF-8: "€" is three bytes.
        impression=["€" * 256] * 25,
        metricAttribution={"eventAttributionSource": "a" * 1024},
        properties={"device": "d" * 1000},
    )
    size = len(json.dumps(body, ensure_ascii=False).encode())
    assert size > MAX_EVENT_BYTES, "the test must build an event over the limit"

    rejection = rejected(body)

    assert rejection.code is ErrorCode.MALFORMED_MESSAGE
    assert "the limit is 10240" in rejection.message


def test_validate_action_interaction_requires_its_fields() -> None:
    rejection = rejected({"type": "actionInteraction", "actionId": "a-1", "sessionId": "s-1", "eventType": "Taken"})

    assert rejection.code is ErrorCode.MALFORMED_MESSAGE
    assert "timestamp: required" in rejection.message


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"sentAt": int("1" + "0" * 400)}, "sentAt: must be epoch seconds or an ISO-8601"),
        ({"eventValue": "1" + "0" * 400}, "eventValue: must be a finite number"),
        ({"sentAt": "1969-12-31T23:59:59Z"}, "sentAt: must be between 1970 and 2286"),
    ],
)
def test_validate_numbers_beyond_range_are_malformed_not_a_crash(fields: dict[str, Any], expected: str) -> None:
    rejection = rejected(event("s-1", "u-1", "sku-1", **fields))

    assert rejection.code is ErrorCode.MALFORMED_MESSAGE
    assert expected in rejection.message


def test_validate_huge_whole_number_property_is_schema_violation() -> None:
    rejection = rejected(item("sku-1", numberOfRatings=int("9" * 400)))

    assert rejection.code is ErrorCode.SCHEMA_VIOLATION


@pytest.mark.parametrize(
    ("attributes", "event_id"),
    [
        # A copy the DLQ tool sent back names the original in the pipeline's own attribute (docs/contracts.md §3),
        # next to whatever upstream attributes the message came with.
        ({"PersonalizeIngest.SourceMessageId": "original-1", "SourceMessageId": "corr-7"}, "original-1"),
        # A plain SourceMessageId is a publisher's own (a correlation id): never an eventId.
        ({"SourceMessageId": "corr-7"}, "copy-2"),
    ],
    ids=["copied-back-from-the-dlq", "publishers-own-source-message-id"],
)
def test_validate_event_derives_its_event_id_from_the_pipelines_origin_attribute_only(
    attributes: dict[str, str], event_id: str
) -> None:
    record = sqs_record(event("s-1", "u-1", "sku-1"), message_id="copy-2", group_id="s-1", deduplication_id="d-9")
    record["messageAttributes"] = {
        name: {"stringValue": value, "dataType": "String"} for name, value in attributes.items()
    }
    change = decode(Message.from_record(record, 0))  # type: ignore[arg-type]

    valid = validate(change, api_models()["event"], schema_for("event"))

    assert valid.record["eventId"] == event_id


# aws-sdk-js#3371 (docs/personalize.md §1): PutEvents with sessionId "null" answers 200 and the event is silently
# dropped. Such ids are a client's stringified null/undefined or an empty form field: never a real id.
PLACEHOLDER_IDS = ["null", "NULL", "Null", "undefined", "UNDEFINED", " ", "\t\n", "  null  "]


@pytest.mark.parametrize("placeholder", PLACEHOLDER_IDS, ids=repr)
@pytest.mark.parametrize(
    ("body", "field"),
    [
        (item("sku-1"), "itemId"),
        (action("a-1"), "actionId"),
        ({"type": "user", "userId": "u-1", "properties": {"membershipType": "gold"}}, "userId"),
        (event("s-1", "u-1", "sku-1"), "sessionId"),
        (event("s-1", "u-1", "sku-1"), "userId"),
        (event("s-1", "u-1", "sku-1"), "itemId"),
        (event("s-1", "u-1", "sku-1", eventId="e-1"), "eventId"),
        (event("s-1", "u-1", "sku-1", recommendationId="r-1"), "recommendationId"),
        (action_interaction("a-1", "s-1"), "sessionId"),
        (action_interaction("a-1", "s-1"), "actionId"),
        (action_interaction("a-1", "s-1"), "userId"),
    ],
    ids=lambda value: value if isinstance(value, str) else value["type"],
)
def test_validate_placeholder_id_is_malformed_message(body: dict[str, Any], field: str, placeholder: str) -> None:
    rejection = rejected({**body, field: placeholder})

    assert rejection.code is ErrorCode.MALFORMED_MESSAGE
    assert rejection.message.startswith(f"{field}: ")
    assert "blank" in rejection.message


@pytest.mark.parametrize("placeholder", ["null", " "])
def test_validate_placeholder_in_impression_is_malformed_message(placeholder: str) -> None:
    rejection = rejected(event("s-1", "u-1", "sku-1", impression=["sku-1", placeholder]))

    assert rejection.code is ErrorCode.MALFORMED_MESSAGE
    assert rejection.message.startswith("impression[1]: ")


@pytest.mark.parametrize("real_id", ["nullable-sku", "undefined-behaviour", "Null Island", " sku-1 ", "nul", "0"])
def test_validate_id_merely_containing_a_placeholder_word_is_accepted(real_id: str) -> None:
    assert check(item(real_id)).record["itemId"] == real_id
    assert dict(check(event(real_id, "u-1", "sku-1")).call_fields)["sessionId"] == real_id
