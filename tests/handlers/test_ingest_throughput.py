"""Throughput through the handler: independent calls in flight together, dependent ones in order, no call outliving
the invocation, and the partial calls of a full batch deferred to the next one (docs/design.md "Throughput").

Calls overlap when a barrier that no call can pass alone is passed: behaviour, not timing (its timeout only ends a
broken test instead of hanging it).
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest

from ingest.defer import Requeue
from tests.handlers.conftest import Harness, failures, make_harness
from tests.support.fakes import client_error, poison_id_field
from tests.support.sqs_events import QUEUE_ARN, action, event, item, sqs_event, sqs_record, user

BARRIER_TIMEOUT_S = 10.0
UNAVAILABLE = client_error("ServiceUnavailable", 503, "try later")


class Meeting:
    """Makes the first ``parties`` calls wait until all of them are in flight at once (later calls pass); counts
    the calls in flight."""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=BARRIER_TIMEOUT_S)
        self.parties = parties
        self.lock = threading.Lock()
        self.calls = 0
        self.in_flight = 0
        self.peak = 0

    def __call__(self) -> None:
        with self.lock:
            self.calls += 1
            meets = self.calls <= self.parties
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            if meets:
                self.barrier.wait()
        finally:
            with self.lock:
                self.in_flight -= 1


def test_throughput_calls_of_different_apis_are_in_flight_together(aws_env: None) -> None:
    # GIVEN a batch of an item, an action and a user: three calls that depend on nothing
    meeting = Meeting(3)
    harness = make_harness(on_call=meeting)

    # WHEN it is processed (each call waits until all three are in flight: one after the other, none could end)
    response = harness.invoke(sqs_event(item("sku-1"), action("a-1"), user("u-1")))

    # THEN all three were in flight at once, and every record was accepted
    assert failures(response) == []
    assert meeting.peak == 3
    assert sorted(harness.events.apis()) == ["PutActions", "PutItems", "PutUsers"]


def test_throughput_sessions_events_go_out_together_each_session_in_one_call(aws_env: None) -> None:
    # GIVEN four sessions' events, interleaved, two events each
    meeting = Meeting(4)
    harness = make_harness(on_call=meeting)
    bodies = [event(f"s-{session}", f"u-{session}", f"sku-{session}-{n}") for n in range(2) for session in range(4)]

    response = harness.invoke(sqs_event(*bodies))

    # THEN one PutEvents per session carried both its events, the four calls in flight together
    assert failures(response) == []
    assert meeting.peak == 4
    assert sorted(len(kwargs["eventList"]) for _api, kwargs in harness.events.calls) == [2, 2, 2, 2]


def test_throughput_no_call_outlives_the_invocation(aws_env: None) -> None:
    # GIVEN calls that wait for each other
    meeting = Meeting(4)
    harness = make_harness(on_call=meeting)

    harness.invoke(sqs_event(item("sku-1"), action("a-1"), user("u-1"), event("s-1", "u-1", "sku-1")))

    # THEN when the handler answered, every call it started had ended
    assert meeting.in_flight == 0
    assert len(harness.events.calls) == 4


def test_throughput_fifo_groups_go_out_together_and_each_keeps_its_order(aws_env: None) -> None:
    # GIVEN two FIFO groups of an item then an action; group g-1's item fails (503)
    meeting = Meeting(2)
    harness = make_harness(on_call=meeting, failing_ids={"A": UNAVAILABLE})
    records = [
        sqs_record(item("A"), group_id="g-1"),
        sqs_record(user("B"), group_id="g-2"),
        sqs_record(action("A2"), group_id="g-1"),
        sqs_record(action("B2"), group_id="g-2"),
    ]

    response = harness.invoke({"Records": records}, remaining_ms=4_000)

    # THEN the first round's two calls were in flight together; g-1's action was never sent after its failed item,
    # and g-2's action went out after its user was accepted
    assert meeting.peak == 2
    assert failures(response) == [records[0]["messageId"], records[2]["messageId"]]
    sent = [
        (api, record[poison_id_field(api)])
        for api, kwargs in harness.events.calls
        for record in kwargs[{"PutItems": "items", "PutUsers": "users", "PutActions": "actions"}[api]]
    ]
    assert ("PutActions", "A2") not in sent
    assert sent.index(("PutUsers", "B")) < sent.index(("PutActions", "B2"))


def deferring(harness: Harness, batch_size: int) -> Harness:
    """The harness's handler as deployed with ``batch_size`` and the ingest queue at hand for deferrals."""
    runtime = harness.runtime
    runtime.settings = dataclasses.replace(runtime.settings, batch_size=batch_size)
    runtime.requeue = Requeue(harness.sqs)
    return harness


def received_batch(harness: Harness, bodies: list[dict[str, Any]], *, receive_count: int = 1) -> list[dict[str, Any]]:
    """``bodies`` published to the ingest queue (``QUEUE_ARN``) and received: records with real receipt handles."""
    url = harness.sqs.create_queue(QueueName=QUEUE_ARN.rsplit(":", 1)[1], Attributes={"VisibilityTimeout": "300"})[
        "QueueUrl"
    ]
    for body in bodies:
        harness.sqs.send_message(QueueUrl=url, MessageBody=str(body))
    handles: list[str] = []
    while len(handles) < len(bodies):
        handles += [
            m["ReceiptHandle"] for m in harness.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        ]
    records = [sqs_record(body, receive_count=receive_count) for body in bodies]
    for record, handle in zip(records, handles, strict=True):
        record["receiptHandle"] = handle
    return records


def visible(harness: Harness) -> int:
    url = harness.sqs.get_queue_url(QueueName=QUEUE_ARN.rsplit(":", 1)[1])["QueueUrl"]
    return len(harness.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []))


def test_throughput_full_batch_defers_the_partial_call_to_the_next_batch(harness: Harness) -> None:
    # GIVEN a full batch (the event source's batch size) of 23 items and 12 actions, first deliveries
    bodies = [item(f"sku-{i:02d}") for i in range(23)] + [action(f"a-{i:02d}") for i in range(12)]
    deferring(harness, batch_size=len(bodies))
    records = received_batch(harness, bodies)

    # WHEN it is processed
    response = harness.invoke({"Records": records})

    # THEN the full calls went out, and the 3 items and 2 actions of the partial calls are reported failed, already
    # visible again in the queue for the next batch
    assert sorted(len(kwargs.get("items", kwargs.get("actions", []))) for _api, kwargs in harness.events.calls) == [
        10,
        10,
        10,
    ]
    assert len(failures(response)) == 5
    assert visible(harness) == 5
    assert harness.dead_letters() == []


def test_throughput_batch_that_is_not_full_sends_its_partial_calls(harness: Harness) -> None:
    bodies = [item(f"sku-{i:02d}") for i in range(13)]
    deferring(harness, batch_size=250)
    records = received_batch(harness, bodies)

    response = harness.invoke({"Records": records})

    assert failures(response) == []
    assert sorted(len(kwargs["items"]) for _api, kwargs in harness.events.calls) == [3, 10]


@pytest.mark.parametrize("receive_count", [2, 5], ids=["second-delivery", "last-delivery"])
def test_throughput_a_deferred_message_is_never_deferred_again(harness: Harness, receive_count: int) -> None:
    bodies = [item(f"sku-{i:02d}") for i in range(13)]
    deferring(harness, batch_size=len(bodies))
    records = received_batch(harness, bodies, receive_count=receive_count)

    response = harness.invoke({"Records": records})

    assert failures(response) == []
    assert sorted(len(kwargs["items"]) for _api, kwargs in harness.events.calls) == [3, 10]


def test_throughput_partial_call_is_sent_when_the_queue_cannot_take_it_back(harness: Harness) -> None:
    # GIVEN a full batch whose receipt handles SQS does not know (the messages were received elsewhere)
    bodies = [item(f"sku-{i:02d}") for i in range(13)]
    deferring(harness, batch_size=len(bodies))
    received_batch(harness, [item("unrelated")])  # the queue exists
    records = [sqs_record(body) for body in bodies]

    response = harness.invoke({"Records": records})

    # THEN nothing is deferred: every record was sent and accepted
    assert failures(response) == []
    assert sorted(len(kwargs["items"]) for _api, kwargs in harness.events.calls) == [3, 10]
