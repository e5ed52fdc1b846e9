"""The rules the ingest Lambda and the emulator share (``service_rules``), and the ingest pieces issue 13 changed:
the properties-string surrogate check, ``changedAt``, the age rule, the tracking-id rule, the dead-letter writer's
defence against a letter it cannot encode."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contract import ORIGIN_MESSAGE_ID_ATTRIBUTE, SOURCE_MESSAGE_ID_ATTRIBUTE, ErrorCode
from ingest.dead_letter import UNWRITABLE_REASON, DeadLetter, DeadLetterQueue
from ingest.decode import Message, decode
from ingest.errors import Disposition, RejectedRecord, classify, tracking_id_refused
from ingest.newest import age
from service_rules import MAX_EVENT_BYTES, event_size, model_pattern_matches, service_length, string_value_problem
from tests.support.fakes import RecordingSqs, client_error

ASTRAL = "\N{GRINNING FACE}"
EVENT_ATTRIBUTION_SOURCE = "^[\\x20-\\x7E]*[\\x21-\\x7E]+[\\x20-\\x7E]*$"
ARN = "arn:([a-z\\d-]+):personalize:.*:.*:.+"


def message(body: str = "{}", **fields: Any) -> Message:
    return Message(
        **{"message_id": "m-1", "body": body, "position": 0, "receive_count": 1, "sent_timestamp": 5, **fields}
    )


@pytest.mark.parametrize(
    ("value", "textual", "fits"),
    [
        ("x" * 1000, False, True),
        ("x" * 1001, False, False),
        ("x" * 500 + "|" + "y" * 500, False, False),  # a joined categorical list counts whole
        (ASTRAL * 500, False, True),  # 1,000 UTF-16 code units
        (ASTRAL * 501, False, False),
        ("x" * 30_000, True, True),  # textual: truncated by the service, never refused
    ],
)
def test_string_value_rule(value: str, textual: bool, fits: bool) -> None:
    assert (string_value_problem(value, textual=textual) is None) is fits


def test_service_length_counts_utf16_code_units() -> None:
    assert (service_length("é"), service_length(ASTRAL), service_length("a")) == (1, 2, 1)


def test_event_size_counts_the_json_the_sdk_sends_with_the_call_fields() -> None:
    record = {"eventType": "click", "impression": ["é" * 250] * 7}
    # "é" is "\u00e9" on the wire: six bytes, where UTF-8 would count two.
    assert event_size(record, {}) > MAX_EVENT_BYTES > len(json.dumps(record, ensure_ascii=False).encode())
    assert event_size(record, {"sessionId": "s" * 10}) > event_size(record, {})


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        (EVENT_ATTRIBUTION_SOURCE, "partner", True),
        (EVENT_ATTRIBUTION_SOURCE, "partner\n", False),  # "$" of re.search matched before the newline
        (EVENT_ATTRIBUTION_SOURCE, "   ", False),
        (ARN, "arn:aws:personalize:us-east-1:1:dataset/x", True),
        (ARN, "see arn:aws:personalize:us-east-1:1:dataset/x", False),  # unanchored: whole value only
        ("^[\\p{L}\\p{Z}]*$", "Straße ok", True),
        ("^[\\p{L}\\p{Z}]*$", "digits 1", False),
    ],
)
def test_model_patterns_match_the_whole_value(pattern: str, value: str, matches: bool) -> None:
    assert model_pattern_matches(pattern, value) is matches


# --- changedAt ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "micros"),
    [(1_763_805_600_123, 1_763_805_600_123_000), ("2025-11-22T10:00:00.123456Z", 1_763_805_600_123_456)],
)
def test_changed_at_is_read_into_the_message_and_out_of_the_fields(value: Any, micros: int) -> None:
    change = decode(message(json.dumps({"type": "item", "itemId": "a", "changedAt": value})))

    assert change.message.changed_at == micros
    assert "changedAt" not in change.fields


@pytest.mark.parametrize("value", [1_763_805_600, "soon", False, [1], 1e300, "2025-02-30", "1969-12-31T00:00:00Z"])
def test_an_unreadable_changed_at_is_malformed(value: Any) -> None:
    with pytest.raises(RejectedRecord) as caught:
        decode(message(json.dumps({"type": "item", "itemId": "a", "changedAt": value})))

    assert caught.value.code is ErrorCode.MALFORMED_MESSAGE
    assert "changedAt" in caught.value.message


def test_age_orders_by_changed_at_then_sent_timestamp_then_position() -> None:
    later = message(changed_at=2_000, sent_timestamp=1, position=0)
    earlier = message(changed_at=1_000, sent_timestamp=9, position=1)
    tie_sent_later = message(changed_at=1_000, sent_timestamp=10, position=0)
    # Without changedAt: as changed at its SentTimestamp (1 ms = 1,000 µs), tying with ``earlier``, sent sooner.
    without = message(sent_timestamp=1, position=5)

    ordered = sorted([later, earlier, tie_sent_later, without], key=lambda m: age(m, fifo=False))

    assert ordered == [without, earlier, tie_sent_later, later]
    # FIFO: the group's order (the position) alone.
    assert max([later, earlier], key=lambda m: age(m, fifo=True)) is earlier


def test_a_plain_source_message_id_attribute_is_not_the_origin() -> None:
    attributes: dict[str, Any] = {SOURCE_MESSAGE_ID_ATTRIBUTE: {"stringValue": "corr-1", "dataType": "String"}}
    record: dict[str, Any] = {
        "messageId": "m-9",
        "body": "{}",
        "attributes": {},
        "messageAttributes": attributes,
    }
    assert Message.from_record(record, 0).origin_id == "m-9"  # type: ignore[arg-type]
    attributes[ORIGIN_MESSAGE_ID_ATTRIBUTE] = {"stringValue": "original-1", "dataType": "String"}
    assert Message.from_record(record, 0).origin_id == "original-1"  # type: ignore[arg-type]


# --- the tracking id rule -------------------------------------------------------------------------------------------

TRACKER = "8d0b2c8a-5b1e-4c57-9a1d-0f3e2a7b6c41"


@pytest.mark.parametrize(
    ("message_text", "setup"),
    [
        (f"No event tracker has trackingId {TRACKER}.", True),
        (f"Event tracker arn:x of trackingId {TRACKER} is in status CREATE PENDING; it must be ACTIVE.", True),
        ("eventList[0] (eventId=order-trackingId-7): invalid value", False),
        ("eventList[0] (eventId=event-tracker-id): invalid", False),
        (f"eventList[0] (eventId={TRACKER}-copy): invalid", False),  # the id inside a longer token is not it
    ],
)
def test_tracking_id_refused_reads_the_tracking_id_not_words(message_text: str, setup: bool) -> None:
    failure = classify(client_error("InvalidInputException", 400, message_text, "PutEvents"))

    refused = tracking_id_refused(failure, TRACKER)

    assert (refused is not None and refused.disposition is Disposition.SETUP) is setup


# --- the dead-letter writer cannot raise for one letter ------------------------------------------------------------


def test_a_reason_quoting_a_lone_surrogate_is_written_with_the_character_replaced() -> None:
    sqs = RecordingSqs()
    letter = DeadLetter(message(), ErrorCode.SCHEMA_VIOLATION, "properties.\ud800: not a field of the schema")

    assert DeadLetterQueue(client=sqs, queue_url="https://q/dlq").send([letter]) == set()
    [entry] = sqs.entries
    reason = entry["MessageAttributes"]["ErrorMessage"]["StringValue"]
    assert reason == "properties.\ufffd: not a field of the schema"
    assert entry["MessageAttributes"][ORIGIN_MESSAGE_ID_ATTRIBUTE]["StringValue"] == "m-1"


class UnsizableLetter(DeadLetter):
    """A letter whose own reason cannot be built (a bug elsewhere): the writer must still write it."""

    def size(self) -> int:
        if self.reason != UNWRITABLE_REASON:
            raise UnicodeEncodeError("utf-8", "x", 0, 1, "surrogates not allowed")
        return DeadLetter.size(self)


def test_a_letter_that_cannot_be_built_is_written_with_a_safe_reason_and_the_batch_goes_on() -> None:
    sqs = RecordingSqs()
    bad = UnsizableLetter(message(), ErrorCode.SCHEMA_VIOLATION, "whatever")
    good = DeadLetter(message(message_id="m-2"), ErrorCode.MALFORMED_MESSAGE, "body is not valid JSON")

    assert DeadLetterQueue(client=sqs, queue_url="https://q/dlq").send([bad, good]) == set()
    reasons = [entry["MessageAttributes"]["ErrorMessage"]["StringValue"] for entry in sqs.entries]
    assert reasons == [UNWRITABLE_REASON, "body is not valid JSON"]
