"""Issue 13, D4 and D5 on the tools' side: which id a dead letter's copy carries back, and the publisher's changedAt.

The DLQ tool trusts ``PersonalizeIngest.SourceMessageId``, set only by the pipeline; a bare ``SourceMessageId``
only on a letter the handler wrote before that name existed (it has an ErrorCode), never on one the redrive policy
moved (it may be a publisher's own correlation id).
"""

from __future__ import annotations

import json

import pytest

from contract import ORIGIN_MESSAGE_ID_ATTRIBUTE, SOURCE_MESSAGE_ID_ATTRIBUTE
from tests.support.fakes import RecordingSqs
from tools.dlq.messages import DeadLetterMessage
from tools.publisher import CHANGED_AT, Publisher


def letter(**attributes: str) -> DeadLetterMessage:
    return DeadLetterMessage.from_sqs(
        {
            "MessageId": "dlq-1",
            "ReceiptHandle": "r",
            "Body": "{}",
            "MessageAttributes": {
                name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
            },
        }
    )


@pytest.mark.parametrize(
    ("attributes", "source", "carries"),
    [
        # Written by the handler now: both names, the pipeline's trusted.
        (
            {"ErrorCode": "InvalidInput", SOURCE_MESSAGE_ID_ATTRIBUTE: "m-1", ORIGIN_MESSAGE_ID_ATTRIBUTE: "m-1"},
            "m-1",
            True,
        ),
        # Written by the handler before the namespaced name: the bare one, trusted because of the ErrorCode.
        ({"ErrorCode": "InvalidInput", SOURCE_MESSAGE_ID_ATTRIBUTE: "m-1"}, "m-1", False),
        # Moved by the redrive policy with a publisher's own correlation id: not ours.
        ({SOURCE_MESSAGE_ID_ATTRIBUTE: "corr-1"}, None, False),
        # Moved by the redrive policy after a copy of ours: the pipeline's attribute.
        ({SOURCE_MESSAGE_ID_ATTRIBUTE: "corr-1", ORIGIN_MESSAGE_ID_ATTRIBUTE: "m-1"}, "m-1", True),
    ],
    ids=["handler-letter", "legacy-handler-letter", "upstream-correlation-id", "redriven-copy"],
)
def test_source_message_id_is_read_only_from_what_the_pipeline_set(
    attributes: dict[str, str], source: str | None, carries: bool
) -> None:
    message = letter(**attributes)

    assert message.source_message_id == source
    assert message.carries_origin_id is carries
    forwarded = message.forwarded_attributes()
    assert forwarded[ORIGIN_MESSAGE_ID_ATTRIBUTE]["StringValue"] == (source or "dlq-1")
    assert "ErrorCode" not in forwarded
    # A publisher's own attribute goes back as it came: the Lambda does not read it.
    if SOURCE_MESSAGE_ID_ATTRIBUTE in attributes:
        assert forwarded[SOURCE_MESSAGE_ID_ATTRIBUTE]["StringValue"] == attributes[SOURCE_MESSAGE_ID_ATTRIBUTE]


def test_as_ingest_message_derives_the_event_id_of_the_original_only() -> None:
    assert letter(**{SOURCE_MESSAGE_ID_ATTRIBUTE: "corr-1"}).as_ingest_message().origin_id == "dlq-1"
    assert letter(**{ORIGIN_MESSAGE_ID_ATTRIBUTE: "m-7"}).as_ingest_message().origin_id == "m-7"


def test_the_publisher_stamps_upserts_with_a_strictly_increasing_changed_at() -> None:
    sqs = RecordingSqs()
    publisher = Publisher("https://sqs.us-east-1.amazonaws.com/1/q", sqs_client=sqs, clock=lambda: 1_763_805_600.0)  # type: ignore[arg-type]
    changes = [
        {"type": "item", "itemId": "sku-1", "properties": {"price": 1}},
        {"type": "item", "itemId": "sku-1", "properties": {"price": 2}},
        {"type": "user", "userId": "u-1", "changedAt": "2025-11-22T10:00:00Z"},
        {"type": "event", "sessionId": "s-1", "eventType": "click", "sentAt": 1},
    ]

    report = publisher.publish(changes)

    assert report.ok
    bodies = [json.loads(entry["MessageBody"]) for entry in sqs.entries]
    # Two changes in the same millisecond are still ordered as published.
    assert [body.get(CHANGED_AT) for body in bodies] == [
        1_763_805_600_000,
        1_763_805_600_001,
        "2025-11-22T10:00:00Z",  # the publisher's own time is kept
        None,  # events carry their own time, and their FIFO deduplication id is their body's digest
    ]
    assert all("MessageAttributes" not in entry for entry in sqs.entries)
