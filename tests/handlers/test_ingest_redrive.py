"""What SQS does with the handler's answer: an ingest queue on moto with its real redrive policy.

A message the handler reports failed on its last delivery is not redelivered: the queue's redrive policy moves it
to the DLQ, without the ErrorCode and ErrorMessage the handler writes (docs/contracts.md §3), and ``redrive --codes
RedrivePolicy`` would send it back later. These tests run the handler over messages received from the queue, delete
what it acknowledged, as the event source mapping does, then poll again, where SQS applies the policy, and check
where each message ended up.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.handlers.conftest import SHORT_INVOCATION_MS, Harness, make_harness
from tests.support.event_source import IngestQueue
from tests.support.fakes import client_error
from tests.support.sqs_events import item, user

MAX_RECEIVE_COUNT = 5  # make_harness's MAX_RECEIVE_COUNT, the queue's redrive policy's too
UNAVAILABLE = client_error("ServiceUnavailable", 503, "try later")


def invoke_short(harness: Harness) -> Any:
    return lambda event: harness.invoke(event, remaining_ms=SHORT_INVOCATION_MS)


def prices(records: list[dict[str, Any]]) -> list[float]:
    return [json.loads(record["body"])["properties"]["price"] for record in records]


def receive_counts(records: list[dict[str, Any]]) -> list[int]:
    return [int(record["attributes"]["ApproximateReceiveCount"]) for record in records]


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
def test_redrive_older_change_on_its_last_delivery_never_reaches_the_dlq_while_the_newer_is_retried(
    aws_env: None, fifo: bool
) -> None:
    # GIVEN an item changed twice: the older change failed four deliveries already, the newer is new; the newer
    # one fails (503) in this invocation
    harness = make_harness(failing_ids={"sku-1": UNAVAILABLE}, fifo=fifo)
    queue = IngestQueue.create(harness.sqs, dead_letter_url=harness.dlq_url, max_receive_count=MAX_RECEIVE_COUNT)
    group = "item#sku-1" if fifo else None
    older = queue.send(item("sku-1", price=1), group_id=group)
    queue.fail_deliveries(MAX_RECEIVE_COUNT - 1)
    newer = queue.send(item("sku-1", price=2), group_id=group)

    # WHEN the event source delivers both, and SQS is polled again
    batch = queue.deliver(invoke_short(harness))
    redelivered = queue.receive()

    # THEN the newer change is redelivered, the older one is gone, and the DLQ holds nothing: not the older change
    # alone and without a reason, which a redrive would write over the newer state
    assert [record["messageId"] for record in batch] == [older, newer]
    assert receive_counts(batch) == [MAX_RECEIVE_COUNT, 1]
    assert [record["messageId"] for record in redelivered] == [newer]
    assert prices(redelivered) == [2]
    assert harness.dead_letters() == []


def test_redrive_fifo_acknowledging_an_older_change_lets_no_later_message_overtake_a_failed_one(aws_env: None) -> None:
    # GIVEN one FIFO group: an older change to A on its last delivery, then a poison item C, an item B, the newer
    # change to A, and an item D. A's newer change fails (503); the call carrying C, B, A and D is split to isolate
    # C, so B is accepted on its own, and A and D fail together.
    harness = make_harness(poison_ids={"C"}, failing_ids={"A": UNAVAILABLE}, fifo=True)
    queue = IngestQueue.create(harness.sqs, dead_letter_url=harness.dlq_url, max_receive_count=MAX_RECEIVE_COUNT)
    older = queue.send(item("A", price=1), group_id="catalog")
    queue.fail_deliveries(MAX_RECEIVE_COUNT - 1)
    poison, b, newer, d = (queue.send(item(item_id), group_id="catalog") for item_id in ("C", "B", "A", "D"))

    batch = queue.deliver(invoke_short(harness))
    redelivered = queue.receive()

    # THEN SQS gives back exactly the failed newer change and what follows it, in order: everything before it in
    # the group is settled (the older change replaced by it, C dead-lettered with its reason, B written), so
    # nothing later in the group went past a message that is coming back
    assert [record["messageId"] for record in batch] == [older, poison, b, newer, d]
    assert [record["messageId"] for record in redelivered] == [newer, d]
    assert [record["itemId"] for record in harness.events.accepted] == ["B"]
    [letter] = harness.dead_letters()
    assert (letter["SourceMessageId"], letter["ErrorCode"]) == (poison, "InvalidInput")


def test_redrive_fifo_held_back_message_on_its_last_delivery_reaches_the_dlq_with_its_reason(aws_env: None) -> None:
    # GIVEN a FIFO group of a user and an item, both on their last delivery; the users dataset is gone (a setup
    # error: the handler retries it, never dead-letters it), so the item waits behind the user
    gone = client_error("ResourceNotFoundException", 404, "dataset not found", "PutUsers")
    harness = make_harness(failing_ids={"u-1": gone}, fifo=True)
    queue = IngestQueue.create(harness.sqs, dead_letter_url=harness.dlq_url, max_receive_count=MAX_RECEIVE_COUNT)
    first = queue.send(user("u-1"), group_id="tenant-1")
    held = queue.send(item("sku-1"), group_id="tenant-1")
    queue.fail_deliveries(MAX_RECEIVE_COUNT - 1)

    batch = queue.deliver(invoke_short(harness))
    queue.receive()  # SQS applies the redrive policy

    # THEN the item was never sent, and it is in the DLQ with the reason, naming what it waited for; the user is
    # there too, moved by the redrive policy (no ErrorCode), as setup errors are
    assert receive_counts(batch) == [MAX_RECEIVE_COUNT, MAX_RECEIVE_COUNT]
    assert harness.events.accepted == []
    letters = {letter.get("SourceMessageId", "moved by SQS"): letter for letter in dead_letters(harness)}
    assert set(letters) == {held, "moved by SQS"}
    assert letters[held]["ErrorCode"] == "RetriesExhausted"
    assert letters[held]["ErrorMessage"] == (
        f"held back behind message {first} of its group, which failed: ResourceNotFoundException: dataset not found"
    )
    assert "ErrorCode" not in letters["moved by SQS"]
    assert json.loads(letters["moved by SQS"]["body"])["userId"] == "u-1"


def dead_letters(harness: Harness) -> list[dict[str, Any]]:
    """The DLQ's messages, those without message attributes (moved by the redrive policy) included."""
    letters = []
    while messages := harness.sqs.receive_message(
        QueueUrl=harness.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        for message in messages:
            attributes = {name: value["StringValue"] for name, value in message.get("MessageAttributes", {}).items()}
            letters.append({"body": message["Body"], **attributes})
            harness.sqs.delete_message(QueueUrl=harness.dlq_url, ReceiptHandle=message["ReceiptHandle"])
    return letters
