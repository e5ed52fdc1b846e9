"""What the handler does with a message's content: envelopes, derived event ids, timestamps, and the messages it
refuses for their content (dead-lettered with their body untouched, and never sent)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.handlers.conftest import Harness, failures
from tests.support.sqs_events import (
    action_interaction,
    event,
    eventbridge_event,
    item,
    sns_notification,
    sqs_event,
    sqs_record,
    user,
)

# 2026-11-22T10:00:00Z
EPOCH = 1795341600


def test_handler_schema_violation_never_reaches_the_api(harness: Harness) -> None:
    bad = item("sku-bad", colour="red")

    response = harness.invoke(sqs_event(bad, item("sku-good")))

    assert failures(response) == []
    assert harness.sent_ids() == ["sku-good"]
    [letter] = harness.dead_letters()
    assert (letter["ErrorCode"], json.loads(letter["body"])) == ("SchemaViolation", bad)
    assert "Api" not in letter


@pytest.mark.parametrize(
    ("body", "code", "reason"),
    [
        ("{definitely not json", "MalformedMessage", "not valid JSON"),
        (json.dumps({"type": "product", "itemId": "x"}), "MalformedMessage", "type must be one of"),
        (json.dumps({"type": "item", "properties": {"price": 1}}), "MalformedMessage", "itemId: required"),
        (json.dumps(item("sku-huge", description="x" * 40_000)), "MalformedMessage", "the limit for PutItems is 32000"),
        # Timestamps: epoch seconds or ISO 8601, nothing else.
        (event("s-1", "u-1", "sku-1", sentAt="next tuesday"), "MalformedMessage", "must be"),
        (event("s-1", "u-1", "sku-1", sentAt="2026-13-45T99:00:00Z"), "MalformedMessage", "must be"),
        (event("s-1", "u-1", "sku-1", sentAt=EPOCH * 1000), "MalformedMessage", "must be"),  # milliseconds
        (action_interaction("a-1", "s-1", timestamp="soon"), "MalformedMessage", "must be"),
        (action_interaction("a-1", "s-1", timestamp=True), "MalformedMessage", "must be"),
        # Each kind's own limits.
        (user("u-1", membershipType=["m" * 999] * 30), "MalformedMessage", "the limit for PutUsers is 24000"),
        (
            event("s-1", "u-1", "sku-1", properties={"device": ["d" * 600, "d" * 500]}),
            "MalformedMessage",
            "the limit for PutEvents is 1024",
        ),
        (
            action_interaction("a-1", "s-1", properties={"channel": ["c" * 600, "c" * 500]}),
            "MalformedMessage",
            "the limit for PutActionInteractions is 1024",
        ),
        (event("s-1", "u-1", "sku-1", recommendationId="r" * 41), "MalformedMessage", "length must be 1..40"),
        (event("s-1", "u-1", "sku-1", impression=[]), "MalformedMessage", "must hold 1..25 entries"),
        (action_interaction("a-1", "s-1", impression=["a"] * 26), "MalformedMessage", "must hold 1..25 entries"),
        (event("s-1", "u-1", "sku-1", properties={"sessionId": "s-2"}), "SchemaViolation", "reserved"),
        (action_interaction("a-1", "s-1", properties={"TIMESTAMP": 1}), "SchemaViolation", "reserved"),
        # docs/personalize.md §1 (aws-sdk-js#3371): PutEvents with sessionId "null" answers 200 and drops the
        # event, so an acknowledgement would lose it silently. It must reach the DLQ with a reason instead.
        (event("null", "u-1", "sku-1"), "MalformedMessage", "a placeholder, not an id"),
        (event("s-1", "UNDEFINED", "sku-1"), "MalformedMessage", "a placeholder, not an id"),
        (event("   ", "u-1", "sku-1"), "MalformedMessage", "a placeholder, not an id"),
        (action_interaction("a-1", "null"), "MalformedMessage", "a placeholder, not an id"),
        (item("null"), "MalformedMessage", "a placeholder, not an id"),
        (user("undefined"), "MalformedMessage", "a placeholder, not an id"),
        # A lone surrogate can never be written: dead-lettered on its first delivery, not left for five
        # redeliveries and a RetriesExhausted.
        (
            '{"type": "event", "sessionId": "s-1", "eventType": "click", "sentAt": 1763805600, '
            '"itemId": "sku-\\ud800"}',
            "MalformedMessage",
            "surrogate",
        ),
        (
            '{"type": "item", "itemId": "sku-1", "properties": {"price": 1, "genres": ["\\udfff"]}}',
            "MalformedMessage",
            "surrogate",
        ),
    ],
    ids=[
        "malformed-json",
        "unknown-type",
        "missing-id",
        "oversized-properties",
        "timestamp-words",
        "timestamp-impossible-date",
        "timestamp-milliseconds",
        "timestamp-action-interaction-words",
        "timestamp-boolean",
        "user-properties-24000",
        "event-properties-1024",
        "action-interaction-properties-1024",
        "recommendation-id-40",
        "impression-empty",
        "impression-26",
        "event-forbidden-key",
        "action-interaction-forbidden-key",
        "placeholder-event-session-null",
        "placeholder-event-user-undefined",
        "placeholder-event-session-blank",
        "placeholder-interaction-null",
        "placeholder-item",
        "placeholder-user",
        "lone-surrogate-event",
        "lone-surrogate-item",
    ],
)
def test_handler_message_refused_for_its_content_is_dead_lettered_with_its_body_and_never_sent(
    harness: Harness, body: str | dict[str, Any], code: str, reason: str
) -> None:
    record = sqs_record(body, receive_count=1)

    response = harness.invoke({"Records": [record]})

    assert failures(response) == []
    assert harness.events.calls == []
    [letter] = harness.dead_letters()
    assert (letter["ErrorCode"], letter["body"]) == (code, record["body"])
    assert reason in letter["ErrorMessage"]
    assert "Api" not in letter  # refused before any call


def test_handler_deeply_nested_body_is_malformed_not_a_crash(harness: Harness) -> None:
    response = harness.invoke({"Records": [sqs_record("[" * 100_000 + "]" * 100_000), sqs_record(item("sku-1"))]})

    assert failures(response) == []
    assert [letter["ErrorCode"] for letter in harness.dead_letters()] == ["MalformedMessage"]
    assert harness.sent_ids() == ["sku-1"]


def test_handler_envelopes_are_unwrapped_and_dead_letters_keep_the_envelope_body(harness: Harness) -> None:
    good_sns = sqs_record(sns_notification(item("sku-sns")))
    good_eventbridge = sqs_record(eventbridge_event(item("sku-eb")))
    bad_sns = sqs_record(sns_notification(item("sku-bad", colour="red")))
    bad_eventbridge = sqs_record(eventbridge_event({"type": "item", "properties": {"price": 1}}))

    response = harness.invoke({"Records": [good_sns, good_eventbridge, bad_sns, bad_eventbridge]})

    assert failures(response) == []
    assert harness.sent_ids() == ["sku-sns", "sku-eb"]
    letters = {letter["SourceMessageId"]: letter for letter in harness.dead_letters()}
    assert (letters[bad_sns["messageId"]]["ErrorCode"], letters[bad_sns["messageId"]]["body"]) == (
        "SchemaViolation",
        bad_sns["body"],
    )
    assert (letters[bad_eventbridge["messageId"]]["ErrorCode"], letters[bad_eventbridge["messageId"]]["body"]) == (
        "MalformedMessage",
        bad_eventbridge["body"],
    )


def test_handler_event_without_event_id_gets_the_message_id_on_every_delivery(harness: Harness) -> None:
    derived = sqs_record(event("s-1", "u-1", "sku-1"))
    given = sqs_record(event("s-1", "u-1", "sku-2", eventId="e-upstream"))
    harness.invoke({"Records": [derived, given]})
    # SQS delivers the same message again (a timeout, a crash): same message id, new receipt handle and count.
    redelivered = {
        **derived,
        "receiptHandle": "AQEB-second-delivery",
        "attributes": {**derived["attributes"], "ApproximateReceiveCount": "2"},
    }

    harness.invoke({"Records": [redelivered]})

    assert harness.sent_ids("PutEvents") == [derived["messageId"], "e-upstream", derived["messageId"]]


def test_handler_fifo_event_without_event_id_gets_the_message_id_not_the_deduplication_id(harness: Harness) -> None:
    # The deduplication id does not survive the DLQ (dead letters and the tool's copies name the message id), so an
    # eventId derived from it would differ between a first send and a replay.
    record = sqs_record(event("s-1", "u-1", "sku-1"), group_id="s-1", deduplication_id="dedup-7")

    harness.invoke({"Records": [record]})

    assert harness.sent_ids("PutEvents") == [record["messageId"]]


def test_handler_timestamps_as_epoch_seconds_or_iso_8601_are_sent_as_epoch_seconds(harness: Harness) -> None:
    bodies = [
        event("s-1", "u-1", "sku-1", sentAt="2026-11-22T11:00:00+01:00"),
        event("s-1", "u-1", "sku-2", sentAt=EPOCH),
        event("s-1", "u-1", "sku-3", sentAt=f"{EPOCH}.9"),
        event("s-1", "u-1", "sku-4", sentAt="2026-11-22T10:00:00"),  # no zone: UTC
        action_interaction("a-1", "s-1", timestamp="2026-11-22T10:00:00Z"),
        action_interaction("a-2", "s-1", timestamp=float(EPOCH)),
    ]

    response = harness.invoke(sqs_event(*bodies))

    assert failures(response) == []
    sent = dict(harness.events.calls)
    assert [record["sentAt"] for record in sent["PutEvents"]["eventList"]] == [EPOCH] * 4
    assert [record["timestamp"] for record in sent["PutActionInteractions"]["actionInteractions"]] == [EPOCH] * 2
