"""The local runner's settling off the execution environment's path (``Settler``) and its return of a batch that was
gathered but never invoked (``return_to_queue``), against an in-memory SQS client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import pytest

from local.run_summary import RunCounters
from local.settlement import Invocation, ResponseVerdict, Settler, return_to_queue

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef


class FakeSqs:
    """Records DeleteMessageBatch and ChangeMessageVisibilityBatch calls; refuses the receipt handles in ``refuse``,
    and raises ``broken`` (a bug, not an SQS error) on a delete when given."""

    def __init__(self, *, refuse: frozenset[str] = frozenset(), broken: Exception | None = None) -> None:
        self.refuse = refuse
        self.broken = broken
        self.deleted: list[str] = []
        self.visibility_changes: list[list[dict[str, Any]]] = []

    def delete_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        if self.broken is not None:
            raise self.broken
        self.deleted.extend(entry["ReceiptHandle"] for entry in Entries)
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries], "Failed": []}

    def change_message_visibility_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.visibility_changes.append(Entries)
        refused = [entry for entry in Entries if entry["ReceiptHandle"] in self.refuse]
        return {
            "Successful": [{"Id": entry["Id"]} for entry in Entries if entry not in refused],
            "Failed": [{"Id": entry["Id"], "Code": "ReceiptHandleIsInvalid", "SenderFault": True} for entry in refused],
        }


def messages(count: int) -> list[MessageTypeDef]:
    return [{"MessageId": f"id-{n}", "ReceiptHandle": f"rh-{n}", "Body": "{}"} for n in range(count)]


def invocation(batch: list[MessageTypeDef], failed: frozenset[str] = frozenset()) -> Invocation:
    return Invocation(messages=batch, records=[], request_id="req", verdict=ResponseVerdict(failed_ids=failed))


def test_settler_deletes_the_acknowledged_and_releases_each_batch() -> None:
    # GIVEN a settler and two held batches, one with a message reported failed
    client = FakeSqs()
    counters = RunCounters()
    for _ in range(2):
        counters.received(first_of_batch=True)
    settler = Settler(client=cast("SQSClient", client), queue_url="q", fifo=False, counters=counters, name="s")

    # WHEN both are submitted and the settler closes
    settler.submit(invocation(messages(3), failed=frozenset({"id-1"})))
    settler.submit(invocation(messages(2)))
    settler.close()

    # THEN the acknowledged ones were deleted, and neither batch is held any more
    assert client.deleted == ["rh-0", "rh-2", "rh-0", "rh-1"]
    summary = counters.summary("drained", 0.0)
    assert (summary.messages_deleted, summary.messages_reported_failed) == (4, 1)
    assert counters.activity()[0] == 0


def test_settler_failure_is_raised_on_close_and_still_releases_the_batch() -> None:
    # GIVEN a settler whose deletes hit a bug (not an SQS error, which would only be counted)
    counters = RunCounters()
    counters.received(first_of_batch=True)
    client = FakeSqs(broken=KeyError("bug"))
    settler = Settler(client=cast("SQSClient", client), queue_url="q", fifo=False, counters=counters, name="s")

    # WHEN a batch is settled
    settler.submit(invocation(messages(1)))

    # THEN closing raises it, and the batch no longer counts as held
    with pytest.raises(RuntimeError, match="settling a batch failed"):
        settler.close()
    assert counters.activity()[0] == 0


def test_return_to_queue_makes_messages_visible_ten_at_a_time_and_counts_refusals() -> None:
    # GIVEN 12 gathered messages, one of whose receipt handles SQS refuses
    client = FakeSqs(refuse=frozenset({"rh-11"}))

    # WHEN they are returned
    outcome = return_to_queue(cast("SQSClient", client), "q", messages(12))

    # THEN two ChangeMessageVisibilityBatch calls set every visibility timeout to 0, and the refusal is counted
    assert [len(entries) for entries in client.visibility_changes] == [10, 2]
    assert {entry["VisibilityTimeout"] for entries in client.visibility_changes for entry in entries} == {0}
    assert (outcome.returned, outcome.errors) == (11, 1)
