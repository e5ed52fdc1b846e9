"""The dead-letter queue (docs/contracts.md §3): original body, reason attributes, and a write is only a write when
SQS confirmed it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingest.dead_letter import MAX_ERROR_MESSAGE, DeadLetter, DeadLetterQueue
from ingest.decode import Message
from ingest.errors import ErrorCode
from tests.support.fakes import client_error


@dataclass
class FakeSqs:
    fail_ids: set[str] = field(default_factory=set)
    silent_ids: set[str] = field(default_factory=set)
    raise_error: Exception | None = None
    batches: list[list[dict[str, Any]]] = field(default_factory=list)

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.batches.append(Entries)
        if self.raise_error:
            raise self.raise_error
        bodies = {entry["Id"]: entry["MessageBody"] for entry in Entries}
        failed = [
            {"Id": i, "Code": "InternalError", "SenderFault": False} for i, b in bodies.items() if b in self.fail_ids
        ]
        ok = [{"Id": i, "MessageId": "m"} for i, b in bodies.items() if b not in self.fail_ids | self.silent_ids]
        return {"Successful": ok, "Failed": failed}


def letter(
    body: str, code: ErrorCode = ErrorCode.MALFORMED_MESSAGE, reason: str = "why", api: str | None = None
) -> DeadLetter:
    return DeadLetter(
        message=Message(message_id=f"id-{body[:8]}", body=body, position=0, receive_count=1, sent_timestamp=0),
        code=code,
        reason=reason,
        api=api,
    )


def test_dead_letter_keeps_body_and_carries_contract_attributes() -> None:
    sqs = FakeSqs()

    failed = DeadLetterQueue(client=sqs, queue_url="https://q/dlq").send(
        [letter("{bad", ErrorCode.INVALID_INPUT, "nope", "PutItems")]
    )

    assert failed == set()
    [[entry]] = sqs.batches
    assert entry["MessageBody"] == "{bad"
    attributes = {name: value["StringValue"] for name, value in entry["MessageAttributes"].items()}
    assert attributes == {
        "ErrorCode": "InvalidInput",
        "ErrorMessage": "nope",
        "SourceMessageId": "id-{bad",
        # The same id under the pipeline's own name, the one a copy sent back is trusted by (docs/contracts.md §3).
        "PersonalizeIngest.SourceMessageId": "id-{bad",
        "Api": "PutItems",
    }
    assert "MessageGroupId" not in entry


def test_dead_letter_without_api_has_no_api_attribute_and_long_reasons_are_cut() -> None:
    entry = DeadLetterQueue(client=FakeSqs(), queue_url="q")._entry(0, letter("b", reason="r" * 5000))

    assert "Api" not in entry["MessageAttributes"]
    assert len(entry["MessageAttributes"]["ErrorMessage"]["StringValue"]) == MAX_ERROR_MESSAGE


def test_dead_letter_batches_by_ten_and_by_size() -> None:
    sqs = FakeSqs()
    small = [letter(f"s{i}") for i in range(23)]
    large = [letter(str(i) + "L" * 150_000) for i in range(2)]

    DeadLetterQueue(client=sqs, queue_url="q").send(small + large)

    # 3 small + one 150 KB body fit in 256 KiB; the second large body does not.
    assert [len(batch) for batch in sqs.batches] == [10, 10, 4, 1]


def test_dead_letter_failed_and_unconfirmed_entries_are_reported() -> None:
    sqs = FakeSqs(fail_ids={"b"}, silent_ids={"c"})

    failed = DeadLetterQueue(client=sqs, queue_url="q").send([letter("a"), letter("b"), letter("c")])

    assert failed == {"id-b", "id-c"}


def test_dead_letter_call_error_reports_the_whole_batch() -> None:
    sqs = FakeSqs(raise_error=client_error("AccessDenied", 403, operation="SendMessageBatch"))

    assert DeadLetterQueue(client=sqs, queue_url="q").send([letter("a"), letter("b")]) == {"id-a", "id-b"}


def test_dead_letter_fifo_queue_gets_group_and_deduplication_ids() -> None:
    entry = DeadLetterQueue(client=FakeSqs(), queue_url="https://q/dlq.fifo")._entry(0, letter("a"))

    assert entry["MessageGroupId"] == "dead-letter"
    assert entry["MessageDeduplicationId"] == "id-a"


def test_dead_letter_of_a_redriven_copy_names_the_original_message() -> None:
    message = Message(
        message_id="copy-2", body="b", position=0, receive_count=1, sent_timestamp=0, source_message_id="original-1"
    )

    attributes = DeadLetter(message=message, code=ErrorCode.INVALID_INPUT, reason="r").attributes()

    assert attributes["SourceMessageId"]["StringValue"] == "original-1"
    assert attributes["PersonalizeIngest.SourceMessageId"]["StringValue"] == "original-1"
