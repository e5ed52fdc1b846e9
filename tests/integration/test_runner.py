"""The local event-source runner against moto's SQS server, with fake handlers that record what they got.

Each test checks one behaviour of Lambda's SQS event source mapping
(https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html): the event's shape, deletion of acknowledged
messages, redelivery after the visibility timeout, redrive to the DLQ, whole-batch failures, batching,
concurrency, when the run stops, and FIFO partial failures.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from local.runner import (
    EventSourceRunner,
    RunSummary,
    fifo_order_violations,
    interpret_response,
    load_handler,
    run_event_source,
)
from local.sqs_server import QueuePair, SqsServer, make_sqs_client

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
MakeQueuePair = Callable[..., QueuePair]
Respond = Callable[[dict[str, Any], int], object]

# Short enough to keep the suite fast: the queues' visibility timeout (1 s) bounds the function timeout, and
# short polls (wait 0) let a drained run stop at once instead of after a last long poll. The tests about
# redelivery, redrive, concurrency and the deadline long-poll (LONG_POLL), as Lambda does.
FAST = {"wait_time_s": 0, "function_timeout_s": 1.0, "max_seconds": 20.0}
LONG_POLL = {"wait_time_s": 1}


class RecordingHandler:
    """A fake Lambda handler: records every event and context, answers with ``respond(event, call_index)``."""

    def __init__(self, respond: Respond | None = None, *, delay_s: float = 0.0) -> None:
        self._respond = respond
        self._delay_s = delay_s
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self.contexts: list[Any] = []
        self.remaining_ms: list[int] = []
        self.active = 0
        self.peak_active = 0

    def __call__(self, event: dict[str, Any], context: Any) -> object:
        with self._lock:
            index = len(self.events)
            self.events.append(copy.deepcopy(event))
            self.contexts.append(context)
            self.remaining_ms.append(context.get_remaining_time_in_millis())
            self.active += 1
            self.peak_active = max(self.peak_active, self.active)
        try:
            if self._delay_s:
                time.sleep(self._delay_s)
            return self._respond(event, index) if self._respond else {"batchItemFailures": []}
        finally:
            with self._lock:
                self.active -= 1

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every record delivered, in invocation order (a redelivered message appears again)."""
        return [record for event in self.events for record in event["Records"]]

    def deliveries_of(self, body: str) -> list[dict[str, Any]]:
        return [record for record in self.records if record["body"] == body]


def redeliveries(handler: RecordingHandler) -> list[dict[str, Any]]:
    """The records of every invocation after the first."""
    return [record for event in handler.events[1:] for record in event["Records"]]


def fail_bodies(*bodies: str) -> Respond:
    """A response that reports the records with these bodies as failed, every time."""

    def respond(event: dict[str, Any], _index: int) -> object:
        failed = [record["messageId"] for record in event["Records"] if record["body"] in bodies]
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}

    return respond


def send(client: SQSClient, queue: QueuePair, bodies: list[str], *, group: str | None = None) -> list[str]:
    """Send the bodies in order (FIFO: in one group, explicit deduplication ids); return the message ids."""
    message_ids = []
    for number, body in enumerate(bodies):
        if queue.fifo:
            response = client.send_message(
                QueueUrl=queue.url,
                MessageBody=body,
                MessageGroupId=group or "g",
                MessageDeduplicationId=f"{group}-{number}-{body}",
            )
        else:
            response = client.send_message(QueueUrl=queue.url, MessageBody=body)
        message_ids.append(response["MessageId"])
    return message_ids


def queue_depth(client: SQSClient, url: str) -> dict[str, int]:
    attributes = client.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return {name: int(value) for name, value in attributes.items()}


def receive_all(client: SQSClient, url: str) -> list[MessageTypeDef]:
    messages: list[MessageTypeDef] = []
    while batch := client.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageSystemAttributeNames=["All"]
    ).get("Messages", []):
        messages.extend(batch)
    return messages


def run(client: SQSClient, queue: QueuePair, handler: Any, **overrides: Any) -> RunSummary:
    settings: dict[str, Any] = {"max_concurrency": 1, **FAST, **overrides}
    return run_event_source(queue_url=queue.url, handler=handler, sqs_client=client, **settings)


# --- The event ---------------------------------------------------------------------------------------------


def test_runner_standard_message_event_has_lambda_sqs_shape(sqs_client: SQSClient, make_queue_pair: MakeQueuePair):
    # GIVEN a message with a string, a number and a binary attribute on a standard queue
    queue = make_queue_pair()
    body = json.dumps({"type": "item", "itemId": "sku-1"})
    sent = sqs_client.send_message(
        QueueUrl=queue.url,
        MessageBody=body,
        MessageAttributes={
            "source": {"DataType": "String", "StringValue": "catalog"},
            "version": {"DataType": "Number", "StringValue": "3"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
        },
    )
    handler = RecordingHandler()

    # WHEN the runner delivers it
    summary = run(sqs_client, queue, handler)

    # THEN the handler got exactly Lambda's SQS event, every attribute a string
    assert summary.invocations == 1
    (event,) = handler.events
    assert list(event) == ["Records"]
    (record,) = event["Records"]
    assert set(record) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfMessageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["messageId"] == sent["MessageId"]
    assert isinstance(record["receiptHandle"], str)
    assert record["receiptHandle"]
    assert record["body"] == body
    assert record["md5OfBody"] == hashlib.md5(body.encode()).hexdigest()
    assert record["md5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queue.arn
    assert record["awsRegion"] == "us-east-1"
    attributes = record["attributes"]
    assert set(attributes) == {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    }
    assert all(isinstance(value, str) for value in attributes.values())
    assert attributes["ApproximateReceiveCount"] == "1"
    assert int(attributes["ApproximateFirstReceiveTimestamp"]) >= int(attributes["SentTimestamp"])
    assert record["messageAttributes"] == {
        "source": {"stringValue": "catalog", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "version": {"stringValue": "3", "stringListValues": [], "binaryListValues": [], "dataType": "Number"},
        "blob": {
            "binaryValue": base64.b64encode(b"\x00\xff").decode(),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        },
    }


def test_runner_message_without_attributes_event_omits_attribute_checksum(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
):
    # GIVEN a message without message attributes
    queue = make_queue_pair()
    send(sqs_client, queue, ["plain"])
    handler = RecordingHandler()

    # WHEN the runner delivers it
    run(sqs_client, queue, handler)

    # THEN messageAttributes is empty and there is no md5OfMessageAttributes, as in Lambda's event
    (record,) = handler.records
    assert record["messageAttributes"] == {}
    assert "md5OfMessageAttributes" not in record


def test_runner_context_is_lambda_like_and_counts_down_from_function_timeout(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
):
    # GIVEN a queue with a 2 s visibility timeout and a function timeout of 2 s
    queue = make_queue_pair(visibility_timeout_s=2)
    send(sqs_client, queue, ["one"])
    handler = RecordingHandler()

    # WHEN the runner invokes the handler
    run(sqs_client, queue, handler, function_timeout_s=2.0)

    # THEN the context carries Lambda's fields and the remaining time counts down from the timeout
    (context,) = handler.contexts
    assert context.function_name == "ingest"
    assert context.function_version == "$LATEST"
    assert context.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:ingest"
    assert isinstance(context.memory_limit_in_mb, int)
    assert context.aws_request_id
    assert context.log_group_name == "/aws/lambda/ingest"
    assert "[$LATEST]" in context.log_stream_name
    assert 0 < handler.remaining_ms[0] <= 2000
    time.sleep(0.05)
    assert context.get_remaining_time_in_millis() < handler.remaining_ms[0]


# --- Acknowledgement, redelivery and redrive ---------------------------------------------------------------


def test_runner_acknowledged_messages_are_deleted(sqs_client: SQSClient, make_queue_pair: MakeQueuePair):
    # GIVEN five messages and a handler that acknowledges everything
    queue = make_queue_pair()
    sent = send(sqs_client, queue, [f"m{n}" for n in range(5)])
    handler = RecordingHandler()

    # WHEN the runner drains the queue
    summary = run(sqs_client, queue, handler)

    # THEN each was delivered once and deleted, and nothing is left anywhere
    assert sorted(record["messageId"] for record in handler.records) == sorted(sent)
    assert summary.messages_received == 5
    assert summary.messages_deleted == 5
    assert summary.stopped_reason == "drained"
    assert set(queue_depth(sqs_client, queue.url).values()) == {0}
    assert receive_all(sqs_client, queue.dlq_url) == []


def test_runner_reported_failure_reappears_after_visibility_timeout_then_succeeds(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
):
    # GIVEN three messages, and a handler that reports "b" as failed on its first delivery only
    queue = make_queue_pair(visibility_timeout_s=1)
    send(sqs_client, queue, ["a", "b", "c"])

    def respond(event: dict[str, Any], _index: int) -> object:
        failed = [
            record["messageId"]
            for record in event["Records"]
            if record["body"] == "b" and record["attributes"]["ApproximateReceiveCount"] == "1"
        ]
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}

    handler = RecordingHandler(respond)

    # WHEN the runner drains the queue
    summary = run(sqs_client, queue, handler, **LONG_POLL)

    # THEN "a" and "c" were deleted at once, "b" came back after the visibility timeout and then went
    assert len(handler.deliveries_of("a")) == len(handler.deliveries_of("c")) == 1
    first, second = handler.deliveries_of("b")
    assert first["messageId"] == second["messageId"]
    assert first["receiptHandle"] != second["receiptHandle"]
    assert [first["attributes"]["ApproximateReceiveCount"], second["attributes"]["ApproximateReceiveCount"]] == [
        "1",
        "2",
    ]
    assert (
        first["attributes"]["ApproximateFirstReceiveTimestamp"]
        == second["attributes"]["ApproximateFirstReceiveTimestamp"]
    )
    assert summary.messages_reported_failed == 1
    assert summary.messages_deleted == 3
    assert summary.batches_failed == 0
    assert set(queue_depth(sqs_client, queue.url).values()) == {0}


def test_runner_reported_failure_is_left_in_flight_not_deleted_nor_made_visible(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
):
    # GIVEN three messages on a queue with a 30 s visibility timeout, and a handler that reports "b" as failed
    # and then stops the runner
    queue = make_queue_pair(visibility_timeout_s=30)
    send(sqs_client, queue, ["a", "b", "c"])
    runner: EventSourceRunner | None = None

    def respond(event: dict[str, Any], index: int) -> object:
        assert runner is not None
        runner.stop()  # the batch is still settled: stop() lets an invocation in progress finish
        return fail_bodies("b")(event, index)

    handler = RecordingHandler(respond)
    runner = EventSourceRunner(queue_url=queue.url, handler=handler, sqs_client=sqs_client, max_concurrency=1, **FAST)

    # WHEN the runner delivers the batch
    summary = runner.run()

    # THEN "a" and "c" are deleted, and "b" is neither deleted nor released early: it waits, in flight, for the
    # queue's visibility timeout (as Lambda leaves it; the redelivery itself is the test above)
    assert summary.stopped_reason == "stopped"
    assert [record["body"] for record in handler.records] == ["a", "b", "c"]
    assert summary.messages_deleted == 2
    assert summary.messages_reported_failed == 1
    assert queue_depth(sqs_client, queue.url) == {
        "ApproximateNumberOfMessages": 0,
        "ApproximateNumberOfMessagesNotVisible": 1,
        "ApproximateNumberOfMessagesDelayed": 0,
    }


def test_runner_always_failing_message_moves_to_dlq_after_max_receive_count(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
):
    # GIVEN a queue whose redrive policy allows 2 receives, and a message the handler always fails
    queue = make_queue_pair(visibility_timeout_s=1, max_receive_count=2)
    poison = json.dumps({"type": "item", "itemId": "bad", "properties": "{not json"})
    (poison_id,) = send(sqs_client, queue, [poison])
    send(sqs_client, queue, ["good"])
    handler = RecordingHandler(fail_bodies(poison))

    # WHEN the runner drains the queue
    summary = run(sqs_client, queue, handler, **LONG_POLL)

    # THEN the handler saw it exactly maxReceiveCount times, then SQS's redrive moved it, body unchanged
    assert [record["attributes"]["ApproximateReceiveCount"] for record in handler.deliveries_of(poison)] == ["1", "2"]
    assert len(handler.deliveries_of("good")) == 1
    (dead,) = receive_all(sqs_client, queue.dlq_url)
    assert dead["MessageId"] == poison_id
    assert dead["Body"] == poison
    assert summary.stopped_reason == "drained"
    assert set(queue_depth(sqs_client, queue.url).values()) == {0}


# --- Whole-batch failures ----------------------------------------------------------------------------------


def test_runner_raising_handler_fails_whole_batch(sqs_client: SQSClient, make_queue_pair: MakeQueuePair):
    # GIVEN three messages and a handler that raises on its first invocation only
    queue = make_queue_pair(visibility_timeout_s=1)
    sent = send(sqs_client, queue, ["x", "y", "z"])

    def respond(_event: dict[str, Any], index: int) -> object:
        if index == 0:
            raise RuntimeError("boom")
        return {"batchItemFailures": []}

    handler = RecordingHandler(respond)

    # WHEN the runner drains the queue
    summary = run(sqs_client, queue, handler)

    # THEN nothing was deleted after the exception: the whole batch came back, each on its second receive
    # (not necessarily in one batch again: SQS does not promise that)
    assert sorted(record["messageId"] for record in handler.events[0]["Records"]) == sorted(sent)
    redelivered = redeliveries(handler)
    assert sorted(record["messageId"] for record in redelivered) == sorted(sent)
    assert {record["attributes"]["ApproximateReceiveCount"] for record in redelivered} == {"2"}
    assert summary.handler_exceptions == 1
    assert summary.batches_failed == 1
    assert summary.messages_deleted == 3


@pytest.mark.parametrize(
    "invalid_response",
    [
        pytest.param({"batchItemFailures": [{"itemIdentifier": "not-a-message-of-this-batch"}]}, id="unknown-id"),
        pytest.param(["not", "an", "object"], id="not-a-dict"),
        pytest.param({"batchItemFailures": [{"id": "wrong-key"}]}, id="missing-item-identifier"),
    ],
)
def test_runner_invalid_batch_item_failures_fails_whole_batch(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair, invalid_response: object
):
    # GIVEN two messages and a handler whose first response Lambda would reject
    queue = make_queue_pair(visibility_timeout_s=1)
    sent = send(sqs_client, queue, ["p", "q"])
    handler = RecordingHandler(lambda _event, index: invalid_response if index == 0 else None)

    # WHEN the runner drains the queue
    summary = run(sqs_client, queue, handler)

    # THEN the whole batch was retried, not acknowledged
    assert sorted(record["messageId"] for record in handler.events[0]["Records"]) == sorted(sent)
    assert sorted(record["messageId"] for record in redeliveries(handler)) == sorted(sent)
    assert summary.invalid_responses == 1
    assert summary.batches_failed == 1
    assert summary.messages_deleted == 2


def test_runner_handler_past_function_timeout_fails_whole_batch(sqs_client: SQSClient, make_queue_pair: MakeQueuePair):
    # GIVEN a function timeout of 0.3 s and a handler that takes 0.5 s on its first invocation
    queue = make_queue_pair(visibility_timeout_s=1)
    send(sqs_client, queue, ["slow"])
    handler = RecordingHandler(lambda _event, index: time.sleep(0.5) if index == 0 else None)

    # WHEN the runner drains the queue
    summary = run(sqs_client, queue, handler, function_timeout_s=0.3)

    # THEN the first invocation counted as timed out (its response ignored) and the message came back
    assert [record["attributes"]["ApproximateReceiveCount"] for record in handler.records] == ["1", "2"]
    assert summary.timeouts == 1
    assert summary.batches_failed == 1
    assert summary.messages_deleted == 1


@pytest.mark.parametrize(
    ("response", "reason_fragment"),
    [
        pytest.param("ok", "not a JSON object", id="string"),
        pytest.param(["m1"], "not a JSON object", id="list"),
        pytest.param({"batchItemFailures": "m1"}, "not a list", id="failures-not-a-list"),
        pytest.param({"batchItemFailures": ["m1"]}, "not an object", id="entry-not-an-object"),
        pytest.param({"batchItemFailures": [{"messageId": "m1"}]}, "no itemIdentifier", id="bad-key-name"),
        pytest.param({"batchItemFailures": [{"itemIdentifier": None}]}, "null or empty", id="null-identifier"),
        pytest.param({"batchItemFailures": [{"itemIdentifier": ""}]}, "null or empty", id="empty-identifier"),
        pytest.param({"batchItemFailures": [{"itemIdentifier": "m9"}]}, "not a messageId", id="unknown-identifier"),
        pytest.param({"batchItemFailures": [{"itemIdentifier": 1}]}, "not a messageId", id="non-string-identifier"),
    ],
)
def test_interpret_response_invalid_shape_fails_every_message(response: object, reason_fragment: str):
    # GIVEN a batch of two messages and a response Lambda treats as a complete failure
    # WHEN it is interpreted
    verdict = interpret_response(response, ["m1", "m2"])

    # THEN every message fails, with the reason
    assert verdict.failed_ids == {"m1", "m2"}
    assert verdict.invalid_reason is not None
    assert reason_fragment in verdict.invalid_reason


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(None, id="null-response"),
        pytest.param({}, id="empty-response"),
        pytest.param({"batchItemFailures": None}, id="null-list"),
        pytest.param({"batchItemFailures": []}, id="empty-list"),
    ],
)
def test_interpret_response_empty_or_null_shape_succeeds_completely(response: object):
    # GIVEN a response Lambda treats as a complete success
    # WHEN it is interpreted
    verdict = interpret_response(response, ["m1", "m2"])

    # THEN nothing fails
    assert verdict.failed_ids == frozenset()
    assert verdict.invalid_reason is None


def test_interpret_response_listed_identifiers_fail_only_those():
    # GIVEN a valid partial batch response naming one of two messages (twice)
    response = {"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m2"}]}

    # WHEN it is interpreted
    verdict = interpret_response(response, ["m1", "m2"])

    # THEN only that message fails
    assert verdict.failed_ids == {"m2"}
    assert verdict.invalid_reason is None


# --- Batching and concurrency ------------------------------------------------------------------------------


def test_runner_batch_size_ten_caps_every_invocation(sqs_client: SQSClient, make_queue_pair: MakeQueuePair):
    # GIVEN 25 messages and a batch size of 10
    queue = make_queue_pair()
    sent = send(sqs_client, queue, [f"m{n}" for n in range(25)])
    handler = RecordingHandler()

    # WHEN two pollers drain the queue
    summary = run(sqs_client, queue, handler, batch_size=10, max_concurrency=2)

    # THEN no invocation got more than 10 records, and every message was delivered
    assert all(1 <= len(event["Records"]) <= 10 for event in handler.events)
    assert {record["messageId"] for record in handler.records} == set(sent)
    assert summary.invocations >= 3
    assert set(queue_depth(sqs_client, queue.url).values()) == {0}


def test_runner_batch_size_above_ten_gathers_within_batching_window(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
):
    # GIVEN 25 messages, a batch size of 25 and a 1 s batching window (ReceiveMessage returns at most 10)
    queue = make_queue_pair()
    sent = send(sqs_client, queue, [f"m{n}" for n in range(25)])
    handler = RecordingHandler()

    # WHEN one poller drains the queue
    summary = run(sqs_client, queue, handler, batch_size=25, batching_window_s=1.0)

    # THEN it gathered all 25 over several receives into one invocation
    assert summary.invocations == 1
    assert sorted(record["messageId"] for record in handler.events[0]["Records"]) == sorted(sent)


def test_runner_concurrent_pollers_invoke_handler_in_parallel(sqs_client: SQSClient, make_queue_pair: MakeQueuePair):
    # GIVEN 16 messages and a handler that takes 0.3 s per batch of 2
    queue = make_queue_pair()
    sent = send(sqs_client, queue, [f"m{n}" for n in range(16)])
    handler = RecordingHandler(delay_s=0.3)

    # WHEN four pollers drain the queue
    summary = run(sqs_client, queue, handler, batch_size=2, max_concurrency=4, **LONG_POLL)

    # THEN invocations overlapped, never more than the maximum concurrency, and all messages went through
    assert 2 <= handler.peak_active <= 4
    assert summary.peak_concurrency == handler.peak_active
    assert {record["messageId"] for record in handler.records} == set(sent)
    assert set(queue_depth(sqs_client, queue.url).values()) == {0}


# --- Stopping ----------------------------------------------------------------------------------------------


def test_runner_empty_queue_stops_when_drained(sqs_client: SQSClient, make_queue_pair: MakeQueuePair):
    # GIVEN an empty queue
    queue = make_queue_pair()
    handler = RecordingHandler()

    # WHEN the runner starts
    summary = run(sqs_client, queue, handler, max_concurrency=2, **LONG_POLL)

    # THEN it stops as drained (not at its deadline) without invoking
    assert summary.stopped_reason == "drained"
    assert summary.invocations == 0


def test_runner_never_drained_queue_stops_at_deadline(sqs_client: SQSClient, make_queue_pair: MakeQueuePair):
    # GIVEN a message the handler always fails, and a redrive limit it will not reach
    queue = make_queue_pair(visibility_timeout_s=1, max_receive_count=100)
    send(sqs_client, queue, ["forever"])
    handler = RecordingHandler(fail_bodies("forever"))

    # WHEN the runner has a 2 s deadline
    summary = run(sqs_client, queue, handler, max_seconds=2.0, **LONG_POLL)

    # THEN it stops at the deadline, after retrying the message
    assert summary.stopped_reason == "deadline"
    assert summary.invocations >= 2
    assert summary.messages_deleted == 0


def test_runner_stop_called_from_another_thread_stops_run(sqs_client: SQSClient, make_queue_pair: MakeQueuePair):
    # GIVEN a runner that would keep polling an empty queue until its deadline
    queue = make_queue_pair()
    runner = EventSourceRunner(
        queue_url=queue.url, handler=RecordingHandler(), sqs_client=sqs_client, stop_when_drained=False, **FAST
    )

    # WHEN another thread calls stop() after 0.5 s
    threading.Timer(0.5, runner.stop).start()
    summary = runner.run()

    # THEN the run ends as stopped, not at its deadline
    assert summary.stopped_reason == "stopped"


# --- FIFO --------------------------------------------------------------------------------------------------


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


class RespondingRecorder(RecordingHandler):
    """A RecordingHandler that also keeps its responses."""

    def __init__(self, respond: Respond) -> None:
        super().__init__(respond)
        self.responses: list[Any] = []

    def __call__(self, event: dict[str, Any], context: Any) -> object:
        response = super().__call__(event, context)
        self.responses.append(response)
        return response


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


def test_runner_fifo_event_carries_group_sequence_and_deduplication(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
):
    # GIVEN a FIFO message with an explicit deduplication id
    queue = make_queue_pair(fifo=True)
    sqs_client.send_message(QueueUrl=queue.url, MessageBody="f1", MessageGroupId="g1", MessageDeduplicationId="d1")
    handler = RecordingHandler()

    # WHEN the runner delivers it
    run(sqs_client, queue, handler)

    # THEN the record's attributes carry the FIFO fields as strings
    (record,) = handler.records
    attributes = record["attributes"]
    assert attributes["MessageGroupId"] == "g1"
    assert attributes["MessageDeduplicationId"] == "d1"
    assert attributes["SequenceNumber"].isdigit()
    assert record["eventSourceARN"] == queue.arn
    assert queue.arn.endswith(".fifo")


def test_runner_fifo_failure_with_later_group_messages_failed_leaves_them_queued(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
):
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
    # The order m2 and m3 come back in is the queue's business: see
    # test_moto_fifo_redelivery_of_several_in_flight_messages_keeps_group_order.


# moto 5.2.5 got this wrong (it skipped the first of several messages of a group that timed out together and
# returned a later one first); local.sqs_server patches it, and this test keeps the patch honest.
def test_moto_fifo_redelivery_of_several_in_flight_messages_keeps_group_order(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
):
    # GIVEN m1, m2, m3 of one FIFO group, received together and not deleted
    queue = make_queue_pair(fifo=True, visibility_timeout_s=1)
    send(sqs_client, queue, ["m1", "m2", "m3"], group="g1")
    first = sqs_client.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10)["Messages"]
    assert [message["Body"] for message in first] == ["m1", "m2", "m3"]

    # WHEN they are received again after the visibility timeout
    time.sleep(1.1)
    again = sqs_client.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10, WaitTimeSeconds=1)

    # THEN SQS hands the group back from its first message (moto returns ["m3"])
    assert [message["Body"] for message in again.get("Messages", [])][:1] == ["m1"]


def test_runner_fifo_acknowledging_past_a_group_failure_is_counted_as_order_violation(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
):
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


def test_fifo_order_violations_only_later_messages_of_failed_group():
    # GIVEN records a1, b1, a2, b2 in groups a and b, where a1 failed
    def record(message_id: str, group: str) -> Any:
        return {"messageId": message_id, "attributes": {"MessageGroupId": group}}

    records = [record("a1", "a"), record("b1", "b"), record("a2", "a"), record("b2", "b")]

    # WHEN the acknowledgements are checked
    violations = fifo_order_violations(records, {"a1"})

    # THEN only a2, acknowledged after a1 of its own group, breaks the order
    assert violations == ["a2"]


# --- Configuration checks (what CreateEventSourceMapping would refuse) -------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param(
            {"batch_size": 11, "batching_window_s": 1.0}, "FIFO queue takes a batch_size", id="fifo-batch-above-10"
        ),
        pytest.param({"batching_window_s": 1.0}, "no batching window", id="fifo-window"),
    ],
)
def test_runner_fifo_queue_with_standard_only_settings_is_rejected(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair, settings: dict[str, Any], message: str
):
    # GIVEN a FIFO queue
    queue = make_queue_pair(fifo=True)

    # WHEN the runner is configured with a setting only standard queues take
    # THEN it refuses to run
    with pytest.raises(ValueError, match=message):
        run(sqs_client, queue, RecordingHandler(), **settings)


def test_runner_visibility_timeout_below_function_timeout_is_rejected(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
):
    # GIVEN a queue with a 1 s visibility timeout
    queue = make_queue_pair(visibility_timeout_s=1)

    # WHEN the function timeout is longer
    # THEN the runner refuses, as Lambda does
    with pytest.raises(ValueError, match="less than the function timeout"):
        run(sqs_client, queue, RecordingHandler(), function_timeout_s=5.0)


def test_runner_batch_above_ten_without_window_is_rejected():
    # GIVEN a batch size above 10 and no batching window
    # WHEN the runner is built
    # THEN it refuses, as Lambda does
    with pytest.raises(ValueError, match="batching_window_s of at least 1"):
        EventSourceRunner(queue_url="http://127.0.0.1:1/q", handler=RecordingHandler(), batch_size=11, endpoint_url="x")


# --- load_handler ------------------------------------------------------------------------------------------


@pytest.fixture
def fake_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A Lambda asset root holding fakefn/, whose config module reads FAKE_SETTING at import."""
    package = tmp_path / "fakefn"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "config.py").write_text("import os\n\nSETTING = os.environ['FAKE_SETTING']\n")
    (package / "handler.py").write_text(
        "from fakefn.config import SETTING\n\n\ndef lambda_handler(event, context):\n    return {'setting': SETTING}\n"
    )
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("FAKE_SETTING", "restored-by-monkeypatch")
    yield tmp_path
    for name in [name for name in sys.modules if name == "fakefn" or name.startswith("fakefn.")]:
        del sys.modules[name]


def test_load_handler_environment_is_set_before_import(fake_function: Path):
    # GIVEN a function whose configuration is read at module load
    # WHEN it is loaded with an environment
    handler = load_handler("fakefn.handler.lambda_handler", {"FAKE_SETTING": "first"}, source_root=fake_function)

    # THEN the module saw that environment, and the environment stays set for the handler's calls
    assert handler({}, None) == {"setting": "first"}
    assert os.environ["FAKE_SETTING"] == "first"


def test_load_handler_second_load_is_a_fresh_cold_start(fake_function: Path):
    # GIVEN a function already loaded with one environment
    first = load_handler("fakefn.handler.lambda_handler", {"FAKE_SETTING": "first"}, source_root=fake_function)

    # WHEN it is loaded again with another
    second = load_handler("fakefn.handler.lambda_handler", {"FAKE_SETTING": "second"}, source_root=fake_function)

    # THEN every module of the asset was imported again, so the new configuration took effect
    assert first({}, None) == {"setting": "first"}
    assert second({}, None) == {"setting": "second"}


def test_load_handler_cold_start_leaves_modules_imported_before_in_place(fake_function: Path):
    # GIVEN a process that imported the function's modules itself (a test patching one of them, say)
    sys.path.insert(0, str(fake_function))
    os.environ["FAKE_SETTING"] = "imported-by-the-test"
    config_before = importlib.import_module("fakefn.config")
    handler_before = importlib.import_module("fakefn.handler")

    # WHEN the handler is loaded as a cold start with another environment
    handler = load_handler("fakefn.handler.lambda_handler", {"FAKE_SETTING": "cold"}, source_root=fake_function)

    # THEN the loaded handler saw the new environment
    assert handler({}, None) == {"setting": "cold"}
    # AND the module table holds the very modules the process had, so patching or reloading them still works
    assert sys.modules["fakefn.config"] is config_before
    assert sys.modules["fakefn.handler"] is handler_before
    assert importlib.reload(config_before).SETTING == "cold"
    assert handler_before.lambda_handler is not handler


def test_load_handler_cold_start_adds_no_module_of_the_asset_to_the_table(fake_function: Path):
    # GIVEN a process that never imported the function
    # WHEN it is loaded as a cold start
    handler = load_handler("fakefn.handler.lambda_handler", {"FAKE_SETTING": "cold"}, source_root=fake_function)

    # THEN the handler works, and the process's module table is as it was: its modules are the handler's own
    assert handler({}, None) == {"setting": "cold"}
    assert [name for name in sys.modules if name.split(".")[0] == "fakefn"] == []


def test_load_handler_missing_attribute_raises(fake_function: Path):
    # GIVEN a handler path naming nothing
    # WHEN it is loaded
    # THEN the error names it
    with pytest.raises(TypeError, match=r"fakefn\.handler\.nope"):
        load_handler("fakefn.handler.nope", {"FAKE_SETTING": "x"}, source_root=fake_function)


# --- sqs_server --------------------------------------------------------------------------------------------


def test_sqs_server_port_zero_binds_a_free_loopback_port():
    # GIVEN a server asked for port 0
    # WHEN it starts
    with SqsServer(port=0) as server:
        # THEN it reports the port the OS chose, on 127.0.0.1, and serves SQS there
        assert server.port > 0
        assert server.endpoint_url == f"http://127.0.0.1:{server.port}"
        client = make_sqs_client(server.endpoint_url)
        assert "QueueUrl" in client.create_queue(QueueName="port-zero-check")
        client.delete_queue(QueueUrl=client.get_queue_url(QueueName="port-zero-check")["QueueUrl"])


def test_sqs_server_standalone_prints_endpoint_and_exits_on_sigterm():
    # GIVEN the standalone server started on a free port
    process = subprocess.Popen(
        [sys.executable, "-m", "local.sqs_server", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    watchdog = threading.Timer(30, process.kill)  # never hang the suite on a server that does not start
    watchdog.start()
    try:
        # WHEN it is ready
        assert process.stdout is not None
        endpoint_url = process.stdout.readline().strip()

        # THEN its first line is the endpoint, which serves SQS, and SIGTERM stops it cleanly
        assert endpoint_url.startswith("http://127.0.0.1:")
        client = make_sqs_client(endpoint_url)
        assert client.list_queues().get("QueueUrls", []) == []
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
