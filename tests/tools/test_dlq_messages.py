"""The dead-letter message wrapper, and the packing of its copies into SendMessageBatch calls (the Lambda's own)."""

from __future__ import annotations

import pytest

from contract import ORIGIN_MESSAGE_ID_ATTRIBUTE
from tests.tools.dlq_support import ITEM
from tools.dlq.copier import pack
from tools.dlq.messages import REDRIVE_POLICY, DeadLetterMessage


def received(index: int, body: str = ITEM, **attributes: str) -> DeadLetterMessage:
    return DeadLetterMessage.from_sqs(
        {
            "MessageId": f"m-{index}",
            "ReceiptHandle": f"r-{index}",
            "Body": body,
            "MessageAttributes": {name: {"DataType": "String", "StringValue": v} for name, v in attributes.items()},
        }
    )


def test_dead_letter_message_without_attributes_is_redrive_policy_move() -> None:
    message = DeadLetterMessage.from_sqs({"MessageId": "m", "ReceiptHandle": "r", "Body": ITEM})

    assert (message.code, message.error_message, message.sent_at) == (REDRIVE_POLICY, None, None)


def test_copy_size_counts_utf8_bytes_of_body_and_forwarded_attributes() -> None:
    # The failure's attributes are not forwarded; both source ids are (the plain one as any attribute, the
    # pipeline's own set by the copy), and upstream's own.
    letter = received(
        7, "é" * 10, ErrorCode="SchemaViolation", SourceMessageId="src-ü", TraceId="ü",
        **{ORIGIN_MESSAGE_ID_ATTRIBUTE: "src-ü"},
    )  # fmt: skip

    source_ids = sum(
        len(name) + len("String") + len("src-ü".encode()) for name in ("SourceMessageId", ORIGIN_MESSAGE_ID_ATTRIBUTE)
    )
    expected = 20 + source_ids + (len("TraceId") + 6 + 2)
    assert letter.size() == expected


@pytest.mark.parametrize(
    ("count", "body_bytes", "batch_sizes"),
    [
        (11, 100, [10, 1]),  # SQS takes at most 10 entries per batch
        (5, 100 * 1024, [2, 2, 1]),  # ... and at most 256 KiB per batch
        (1, 250 * 1024, [1]),
    ],
)
def test_pack_batches_copies_by_count_and_size_in_order(count: int, body_bytes: int, batch_sizes: list[int]) -> None:
    messages = [received(index, "x" * body_bytes) for index in range(count)]

    batches = pack(messages)

    assert [len(batch) for batch in batches] == batch_sizes
    assert [m for batch in batches for m in batch] == messages
    assert all(sum(m.size() for m in batch) <= 256 * 1024 for batch in batches)
