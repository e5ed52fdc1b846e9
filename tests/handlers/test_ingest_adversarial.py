"""Issue 13, through the real handler: inputs an adversary sent, each of which once raised, sent what the service
refuses, mistook a poison event for a setup error, kept an older change, or let upstream pick eventIds.

Every test builds a realistic SQS batch, invokes ``lambda_handler`` and checks what reached Personalize (the fake
refuses what botocore would) and what reached the dead-letter queue (moto).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from contract import SOURCE_MESSAGE_ID_ATTRIBUTE
from tests.handlers.conftest import EVENT_TRACKING_ID, Harness, failures, make_harness
from tests.support.fakes import client_error
from tests.support.sqs_events import event, item, sqs_event, sqs_record, user

# The attribute the pipeline carries an original message id in (docs/contracts.md §3), spelled as on the wire.
ORIGIN_MESSAGE_ID_ATTRIBUTE = "PersonalizeIngest.SourceMessageId"


def body(change: dict[str, Any]) -> str:
    return json.dumps(change)


def with_attribute(record: dict[str, Any], name: str, value: str) -> dict[str, Any]:
    """``record`` carrying a String message attribute, as the Lambda service delivers one."""
    record["messageAttributes"] = {
        **record["messageAttributes"],
        name: {"stringValue": value, "stringListValues": [], "binaryListValues": [], "dataType": "String"},
    }
    return record


# --- D1: a properties string the decoder never saw inside -----------------------------------------------------------

# The JSON text of a properties string, as a publisher escapes it: the surrogate is six ASCII characters here, and
# only parsing the string makes it a code point no encoder accepts.
LONE_SURROGATE_KEY = '{"\\ud800":1}'
LONE_SURROGATE_VALUE = '{"membershipType":"\\ud800"}'


@pytest.mark.parametrize("properties", [LONE_SURROGATE_KEY, LONE_SURROGATE_VALUE], ids=["key", "value"])
def test_lone_surrogate_in_a_properties_string_is_dead_lettered_and_the_rest_written_once(
    harness: Harness, properties: str
) -> None:
    # GIVEN nine good users and one whose properties string holds a lone surrogate (in a key: D1; a value: D1b)
    bad = {"type": "user", "userId": "u-bad", "properties": properties}
    event_in = sqs_event(*(user(f"u-{index}") for index in range(9)), body(bad))

    # WHEN the handler runs: it must answer, not raise
    response = harness.invoke(event_in)

    # THEN the bad one is dead-lettered with a code, and every good one written exactly once
    assert failures(response) == []
    [letter] = harness.dead_letters()
    assert (letter["ErrorCode"], letter["body"]) == ("MalformedMessage", event_in["Records"][9]["body"])
    assert "surrogate" in letter["ErrorMessage"]
    assert sorted(harness.sent_ids("PutUsers")) == [f"u-{index}" for index in range(9)]


# --- D2: records the service refuses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        # (a) each categorical entry is under 1,000 characters; joined, they are not.
        user("u-long", membershipType=["g" * 600, "s" * 600]),
        # (a) 600 code points, 1,200 UTF-16 code units: the stricter count.
        user("u-astral", membershipType="\N{GRINNING FACE}" * 600),
        # (a) Items measured the joined value already: it must stay so.
        item("sku-genres", genres="|".join(["x" * 400] * 3)),
    ],
    ids=["joined-categorical", "astral-categorical", "items-joined"],
)
def test_string_values_over_the_service_limit_are_schema_violations_never_sent(
    harness: Harness, change: dict[str, Any]
) -> None:
    response = harness.invoke(sqs_event(change))

    assert failures(response) == []
    [letter] = harness.dead_letters()
    assert letter["ErrorCode"] == "SchemaViolation"
    assert "1000" in letter["ErrorMessage"].replace(",", "")
    assert harness.events.calls == []


@pytest.mark.parametrize(
    "fields",
    [
        # (b) about 3.6 KB as UTF-8, about 10.5 KB as the JSON the SDK sends ("é" is "\u00e9" there).
        {"impression": ["\N{LATIN SMALL LETTER E WITH ACUTE}" * 250] * 7},
        # (c) "$" of the model's pattern matches before a final newline for re.search.
        {"metricAttribution": {"eventAttributionSource": "partner\n"}},
    ],
    ids=["escaped-size", "pattern-final-newline"],
)
def test_events_the_service_refuses_are_malformed_never_sent(harness: Harness, fields: dict[str, Any]) -> None:
    response = harness.invoke(sqs_event(event("s-1", "u-1", "sku-1", eventId="e-1", **fields)))

    assert failures(response) == []
    [letter] = harness.dead_letters()
    assert letter["ErrorCode"] == "MalformedMessage"
    assert harness.events.calls == []


# --- D3: a poison event whose id happens to say "trackingId" --------------------------------------------------------


def test_poison_event_whose_message_names_trackingid_is_dead_lettered_not_a_setup_error(aws_env: None) -> None:
    # GIVEN Personalize refuses one event, and its message quotes the event's id, which contains "trackingId"
    refusal = client_error(
        "InvalidInputException", 400, "eventList[0] (eventId=order-trackingId-7): invalid value", "PutEvents"
    )
    harness = make_harness(failing_ids={"sku-poison": refusal})
    events = [event("s-1", "u-1", f"sku-{index}", eventId=f"e-{index}") for index in range(9)]
    poison = event("s-1", "u-1", "sku-poison", eventId="order-trackingId-7")

    response = harness.invoke(sqs_event(*events, poison))

    # THEN only the poison is dead-lettered, with the service's reason, and every other event is written
    assert failures(response) == []
    [letter] = harness.dead_letters()
    assert (letter["ErrorCode"], letter["Api"]) == ("InvalidInput", "PutEvents")
    assert sorted(record["eventId"] for record in harness.events.accepted) == sorted(f"e-{i}" for i in range(9))


def test_an_unknown_tracking_id_is_still_a_setup_error(aws_env: None) -> None:
    # The fake answers an unknown trackingId as the emulator does, naming it: retried, never dead-lettered.
    harness = make_harness(tracking_ids={"another-tracker-0001"})
    event_in = sqs_event(*(event("s-1", "u-1", f"sku-{index}") for index in range(3)))

    response = harness.invoke(event_in)

    assert sorted(failures(response)) == sorted(record["messageId"] for record in event_in["Records"])
    assert harness.dead_letters() == []
    assert EVENT_TRACKING_ID != "another-tracker-0001"


# --- D4: equal SentTimestamps ---------------------------------------------------------------------------------------


def test_changed_at_orders_changes_with_equal_sent_timestamps(harness: Harness) -> None:
    # GIVEN two changes to one item, sent in the same millisecond, delivered newest first
    newer = sqs_record(item("sku-1", price=20.0) | {"changedAt": 1_763_805_600_002}, sent_timestamp=1_000)
    older = sqs_record(item("sku-1", price=10.0) | {"changedAt": "2025-11-22T10:00:00.001Z"}, sent_timestamp=1_000)

    response = harness.invoke({"Records": [newer, older]})

    # THEN the newer one is written, and the older acknowledged as superseded
    assert failures(response) == []
    assert harness.dead_letters() == []
    assert harness.accepted_properties("sku-1")["price"] == 20.0
    assert harness.sent_ids() == ["sku-1"]


@pytest.mark.parametrize("changed_at", ["yesterday", -1, True, 1.5e300, "2025-13-01T00:00:00Z"])
def test_an_unreadable_changed_at_is_malformed(harness: Harness, changed_at: Any) -> None:
    response = harness.invoke(sqs_event(item("sku-1") | {"changedAt": changed_at}))

    assert failures(response) == []
    [letter] = harness.dead_letters()
    assert letter["ErrorCode"] == "MalformedMessage"
    assert "changedAt" in letter["ErrorMessage"]


# --- D5: an upstream SourceMessageId ------------------------------------------------------------------------------


def test_an_upstream_source_message_id_never_becomes_an_event_id(harness: Harness) -> None:
    # GIVEN two different events whose publisher set its own SourceMessageId attribute (a correlation id)
    records = [
        with_attribute(sqs_record(event("s-1", "u-1", f"sku-{index}")), SOURCE_MESSAGE_ID_ATTRIBUTE, "corr-1")
        for index in range(2)
    ]

    response = harness.invoke({"Records": records})

    # THEN each is stored under its own message id
    assert failures(response) == []
    assert sorted(harness.sent_ids("PutEvents")) == sorted(record["messageId"] for record in records)


def test_a_dead_letter_of_an_upstream_tagged_message_names_its_own_message_id(harness: Harness) -> None:
    record = with_attribute(sqs_record("not json"), SOURCE_MESSAGE_ID_ATTRIBUTE, "corr-1")

    harness.invoke({"Records": [record]})

    [letter] = harness.dead_letters()
    assert letter[SOURCE_MESSAGE_ID_ATTRIBUTE] == record["messageId"]
    assert letter[ORIGIN_MESSAGE_ID_ATTRIBUTE] == record["messageId"]


def test_the_pipeline_attribute_carries_the_original_id_through_the_dlq(harness: Harness) -> None:
    # GIVEN a copy the DLQ tool sent back: it names the original message in the pipeline's own attribute
    good = with_attribute(sqs_record(event("s-1", "u-1", "sku-1")), ORIGIN_MESSAGE_ID_ATTRIBUTE, "original-1")
    bad = with_attribute(sqs_record("not json"), ORIGIN_MESSAGE_ID_ATTRIBUTE, "original-2")

    harness.invoke({"Records": [good, bad]})

    assert harness.sent_ids("PutEvents") == ["original-1"]
    [letter] = harness.dead_letters()
    assert (letter[SOURCE_MESSAGE_ID_ATTRIBUTE], letter[ORIGIN_MESSAGE_ID_ATTRIBUTE]) == ("original-2", "original-2")
