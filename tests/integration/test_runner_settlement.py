"""The local event-source runner settling a batch as Lambda does with ReportBatchItemFailures: acknowledged
messages deleted, reported ones redelivered after the visibility timeout, then redriven; an exception, a timeout or
an invalid answer failing the whole batch
(https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from local.runner import EventSourceRunner
from local.settlement import interpret_response
from tests.integration.runner_helpers import (
    FAST,
    LONG_POLL,
    MakeQueuePair,
    RecordingHandler,
    fail_bodies,
    queue_depth,
    receive_all,
    redeliveries,
    run,
    send,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

pytestmark = pytest.mark.integration


# --- Acknowledgement, redelivery and redrive ---------------------------------------------------------------


def test_runner_acknowledged_messages_are_deleted(sqs_client: SQSClient, make_queue_pair: MakeQueuePair) -> None:
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
) -> None:
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
) -> None:
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
) -> None:
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


def raise_boom() -> object:
    raise RuntimeError("boom")


def answer_past_function_timeout() -> object:
    time.sleep(0.5)
    return None


@pytest.mark.parametrize(
    ("first_answer", "overrides", "counter"),
    [
        pytest.param(raise_boom, {}, "handler_exceptions", id="raises"),
        pytest.param(
            lambda: {"batchItemFailures": [{"itemIdentifier": "not-a-message-of-this-batch"}]},
            {},
            "invalid_responses",
            id="unknown-id",
        ),
        pytest.param(lambda: ["not", "an", "object"], {}, "invalid_responses", id="not-a-dict"),
        pytest.param(lambda: {"batchItemFailures": [{"id": "wrong-key"}]}, {}, "invalid_responses", id="missing-key"),
        # The answer is valid, but it comes after the function timeout: Lambda would have stopped the function.
        pytest.param(answer_past_function_timeout, {"function_timeout_s": 0.3}, "timeouts", id="past-timeout"),
    ],
)
def test_runner_failed_invocation_fails_whole_batch(
    sqs_client: SQSClient,
    make_queue_pair: MakeQueuePair,
    first_answer: Callable[[], object],
    overrides: dict[str, Any],
    counter: str,
) -> None:
    # GIVEN three messages, and a handler whose first invocation raises, answers what Lambda would reject, or
    # answers past the function timeout; its later invocations acknowledge everything
    queue = make_queue_pair(visibility_timeout_s=1)
    sent = send(sqs_client, queue, ["x", "y", "z"])
    handler = RecordingHandler(lambda _event, index: first_answer() if index == 0 else None)

    # WHEN the runner drains the queue
    summary = run(sqs_client, queue, handler, **overrides)

    # THEN nothing was deleted after the first invocation: the whole batch came back, each on its second receive
    # (not necessarily in one batch again: SQS does not promise that), and was then deleted
    assert sorted(record["messageId"] for record in handler.events[0]["Records"]) == sorted(sent)
    redelivered = redeliveries(handler)
    assert sorted(record["messageId"] for record in redelivered) == sorted(sent)
    assert {record["attributes"]["ApproximateReceiveCount"] for record in redelivered} == {"2"}
    assert getattr(summary, counter) == 1
    assert summary.batches_failed == 1
    assert summary.messages_deleted == 3


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
def test_interpret_response_invalid_shape_fails_every_message(response: object, reason_fragment: str) -> None:
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
def test_interpret_response_empty_or_null_shape_succeeds_completely(response: object) -> None:
    # GIVEN a response Lambda treats as a complete success
    # WHEN it is interpreted
    verdict = interpret_response(response, ["m1", "m2"])

    # THEN nothing fails
    assert verdict.failed_ids == frozenset()
    assert verdict.invalid_reason is None


def test_interpret_response_listed_identifiers_fail_only_those() -> None:
    # GIVEN a valid partial batch response naming one of two messages (twice)
    response = {"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m2"}]}

    # WHEN it is interpreted
    verdict = interpret_response(response, ["m1", "m2"])

    # THEN only that message fails
    assert verdict.failed_ids == {"m2"}
    assert verdict.invalid_reason is None
