"""The local event-source runner on FIFO queues: a partial failure leaves the rest of its group queued when the
handler follows Lambda's FIFO advice, and an acknowledgement past a group's failure is counted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from local.settlement import fifo_order_violations
from tests.integration.runner_helpers import (
    LONG_POLL,
    MakeQueuePair,
    Respond,
    RespondingRecorder,
    fail_bodies,
    redeliveries,
    run,
    send,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

pytestmark = pytest.mark.integration


def fifo_contract_respond(fail_body: str) -> Respond:
    """A handler that follows Lambda's FIFO advice: on a failure, fail it and every later record of its group."""

    def respond(event: dict[str, Any], _index: int) -> object:
        failed_groups: set[str] = set()
        failed: list[str] = []
        for record in event["Records"]:
            group = record["attributes"]["MessageGroupId"]
            first_try = record["attributes"]["ApproximateReceiveCount"] == "1"
            if group in failed_groups or (record["body"] == fail_body and first_try):
                failed_groups.add(group)
                failed.append(record["messageId"])
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}

    return respond


def fifo_acknowledged_order(handler: RespondingRecorder, group: str) -> list[str]:
    """The group's bodies in the order the handler acknowledged them (failed deliveries left out)."""
    order: list[str] = []
    for event, response in zip(handler.events, handler.responses, strict=True):
        failed = {entry["itemIdentifier"] for entry in response["batchItemFailures"]}
        order.extend(
            record["body"]
            for record in event["Records"]
            if record["messageId"] not in failed and record["attributes"]["MessageGroupId"] == group
        )
    return order


def test_runner_fifo_failure_with_later_group_messages_failed_leaves_them_queued(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
) -> None:
    # GIVEN group g1 = m1, m2, m3 and group g2 = n1, and a handler that follows Lambda's FIFO advice:
    # it fails m2 on its first delivery, and with it every later message of g1
    queue = make_queue_pair(fifo=True, visibility_timeout_s=1)
    send(sqs_client, queue, ["m1", "m2", "m3"], group="g1")
    send(sqs_client, queue, ["n1"], group="g2")
    handler = RespondingRecorder(fifo_contract_respond("m2"))

    # WHEN the runner drains the queue
    summary = run(sqs_client, queue, handler, **LONG_POLL)

    # THEN the first batch acknowledged m1 and n1 only; m2 and m3 stayed queued and came back once each
    first_event, first_response = handler.events[0], handler.responses[0]
    assert [record["body"] for record in first_event["Records"]] == ["m1", "m2", "m3", "n1"]
    failed_ids = {entry["itemIdentifier"] for entry in first_response["batchItemFailures"]}
    assert {record["body"] for record in first_event["Records"] if record["messageId"] in failed_ids} == {"m2", "m3"}
    redelivered = redeliveries(handler)
    assert sorted(record["body"] for record in redelivered) == ["m2", "m3"]
    assert {record["attributes"]["ApproximateReceiveCount"] for record in redelivered} == {"2"}
    assert summary.messages_reported_failed == 2
    assert summary.fifo_order_violations == 0
    assert summary.messages_deleted == 4


def test_runner_fifo_acknowledging_past_a_group_failure_is_counted_as_order_violation(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
) -> None:
    # GIVEN group g1 = m1, m2, m3 and a handler that fails only m2 (against Lambda's FIFO advice)
    queue = make_queue_pair(fifo=True, visibility_timeout_s=1)
    send(sqs_client, queue, ["m1", "m2", "m3"], group="g1")
    handler = RespondingRecorder(
        lambda event, index: fail_bodies("m2")(event, index) if index == 0 else {"batchItemFailures": []}
    )

    # WHEN the runner drains the queue
    summary = run(sqs_client, queue, handler)

    # THEN, like Lambda, it deleted m3 anyway (so m2 is processed after m3), and it counted the violation
    assert fifo_acknowledged_order(handler, "g1") == ["m1", "m3", "m2"]
    assert summary.fifo_order_violations == 1
    assert summary.messages_deleted == 3


def test_fifo_order_violations_only_later_messages_of_failed_group() -> None:
    # GIVEN records a1, b1, a2, b2 in groups a and b, where a1 failed
    def record(message_id: str, group: str) -> Any:
        return {"messageId": message_id, "attributes": {"MessageGroupId": group}}

    records = [record("a1", "a"), record("b1", "b"), record("a2", "a"), record("b2", "b")]

    # WHEN the acknowledgements are checked
    violations = fifo_order_violations(records, {"a1"})

    # THEN only a2, acknowledged after a1 of its own group, breaks the order
    assert violations == ["a2"]
