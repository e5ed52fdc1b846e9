"""Full calls from a backlog: the partial last call of an upsert kind is deferred to the next batch (ingest.defer)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ingest.defer import DEFER_MIN_RECEIVES, FULL_PAYLOAD_BYTES, Requeue, arrived_full, may_defer, split_tails
from ingest.plan import Call, plan_calls
from ingest.validate import ValidRecord
from tests.support.sqs_events import action, event, item, sqs_record
from tests.unit.test_ingest_plan import MAX, TARGETS, valid

FIRST = may_defer(5)


def ids(calls: list[Call]) -> list[list[str]]:
    return [
        [str(record.record.get("itemId") or record.record.get("actionId")) for record in call.records] for call in calls
    ]


def redelivered(records: list[ValidRecord], *names: str) -> list[ValidRecord]:
    """``records`` with those naming ``names`` on their second delivery."""
    return [
        dataclasses.replace(
            r, change=dataclasses.replace(r.change, message=dataclasses.replace(r.change.message, receive_count=2))
        )
        if r.record.get("itemId") in names
        else r
        for r in records
    ]


def test_split_tails_defers_the_partial_last_call_of_each_upsert_kind_that_fills_a_call() -> None:
    # GIVEN 25 items and 4 actions, all on their first delivery
    records = valid([item(f"sku-{i:02d}") for i in range(25)] + [action(f"a-{i}") for i in range(4)])
    plan = plan_calls(records, targets=TARGETS, max_records=MAX)

    # WHEN the tails are split off
    kept, deferred = split_tails(plan, deferrable=FIRST, max_records=MAX)

    # THEN the two full item calls go out, and the 5 items wait for a fuller call; the actions, too few to fill a
    # call of their own in this batch, are sent
    assert ids(kept.calls) == [
        [f"sku-{i:02d}" for i in range(10)],
        [f"sku-{i:02d}" for i in range(10, 20)],
        ["a-0", "a-1", "a-2", "a-3"],
    ]
    assert ids(deferred) == [[f"sku-{i:02d}" for i in range(20, 25)]]


def test_split_tails_puts_records_that_may_not_wait_into_the_full_calls_first() -> None:
    # GIVEN 15 items, two of them (the last ones) already redelivered once
    records = redelivered(valid([item(f"sku-{i:02d}") for i in range(15)]), "sku-13", "sku-14")
    plan = plan_calls(records, targets=TARGETS, max_records=MAX)

    kept, deferred = split_tails(plan, deferrable=FIRST, max_records=MAX)

    # THEN both go out now, in the full call, and only first deliveries wait
    [full] = ids(kept.calls)
    assert {"sku-13", "sku-14"} <= set(full)
    assert len(full) == 10
    assert all(record.change.message.receive_count == 1 for call in deferred for record in call.records)
    assert len(deferred[0].records) == 5


def test_split_tails_sends_a_partial_call_holding_one_record_that_may_not_wait() -> None:
    records = redelivered(valid([item(f"sku-{i}") for i in range(3)]), "sku-1")
    plan = plan_calls(records, targets=TARGETS, max_records=MAX)

    kept, deferred = split_tails(plan, deferrable=FIRST, max_records=MAX)

    assert deferred == []
    assert kept.calls == plan.calls


def test_split_tails_a_rider_that_may_not_wait_keeps_its_newest_change_in_this_batch() -> None:
    # GIVEN two changes to one item: the older one redelivered, the newer one first delivered
    older, newer = valid([item("sku-1"), item("sku-1")], sent=[1, 2])
    older = redelivered([older], "sku-1")[0]
    plan = plan_calls([older, newer], targets=TARGETS, max_records=MAX)

    _kept, deferred = split_tails(plan, deferrable=FIRST, max_records=MAX)

    # THEN the newer change is sent now: deferring it would cost the older one a receive too
    assert deferred == []


def test_split_tails_never_defers_events() -> None:
    records = valid([event("s-1", "u-1", f"sku-{i}") for i in range(3)])
    plan = plan_calls(records, targets=TARGETS, max_records=MAX)

    kept, deferred = split_tails(plan, deferrable=FIRST, max_records=MAX)

    assert (kept.calls, deferred) == (plan.calls, [])


@pytest.mark.parametrize(
    ("max_receive_count", "receive_count", "deferrable"),
    [(None, 1, True), (DEFER_MIN_RECEIVES, 1, True), (DEFER_MIN_RECEIVES - 1, 1, False), (5, 2, False)],
    ids=["no-redrive", "enough-receives", "too-few-receives", "second-delivery"],
)
def test_may_defer_only_a_first_delivery_with_receives_to_spare(
    max_receive_count: int | None, receive_count: int, deferrable: bool
) -> None:
    [record] = valid([item("sku-1")])
    record = dataclasses.replace(
        record,
        change=dataclasses.replace(
            record.change, message=dataclasses.replace(record.change.message, receive_count=receive_count)
        ),
    )

    assert may_defer(max_receive_count)(record) is deferrable


def test_arrived_full_at_the_batch_size_or_near_the_payload_limit() -> None:
    ten: list[Any] = [sqs_record(item(f"sku-{i}")) for i in range(10)]
    big: list[Any] = [sqs_record("x" * (FULL_PAYLOAD_BYTES // 2 + 1)) for _ in range(2)]

    assert arrived_full(ten, 10)
    assert not arrived_full(ten[:9], 10)
    assert arrived_full(big, 250)
    assert not arrived_full(ten, None)


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def test_requeue_makes_received_messages_visible_again_at_once(sqs: Any) -> None:
    # GIVEN three messages received from a queue with a long visibility timeout
    url = sqs.create_queue(QueueName="ingest", Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for number in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{number}")
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]

    # WHEN two of them are released
    handles = [message["ReceiptHandle"] for message in received[:2]]
    released = Requeue(sqs).release(arn, handles, time_left_s=30.0)

    # THEN SQS confirmed both, and they can be received again right away; the third stays in flight
    assert released == set(handles)
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(message["Body"] for message in again) == sorted(message["Body"] for message in received[:2])


def test_requeue_never_raises_and_releases_nothing_for_a_queue_it_cannot_find(sqs: Any) -> None:
    released = Requeue(sqs).release("arn:aws:sqs:us-east-1:123456789012:gone", ["handle"], time_left_s=30.0)

    assert released == set()
