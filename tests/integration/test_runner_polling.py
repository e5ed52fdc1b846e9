"""The local event-source runner's pollers: batch sizes and the batching window, concurrency, when a run stops, and
the settings CreateEventSourceMapping would refuse."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest

from local.runner import EventSourceRunner
from tests.integration.runner_helpers import (
    FAST,
    LONG_POLL,
    MakeQueuePair,
    RecordingHandler,
    fail_bodies,
    queue_depth,
    run,
    send,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

pytestmark = pytest.mark.integration


# --- Batching and concurrency ------------------------------------------------------------------------------


def test_runner_batch_size_ten_caps_every_invocation(sqs_client: SQSClient, make_queue_pair: MakeQueuePair) -> None:
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
) -> None:
    # GIVEN 25 messages, a batch size of 25 and a 1 s batching window (ReceiveMessage returns at most 10), on a
    # queue whose visibility timeout outlasts the window (with the fixture's 1 s, a loaded machine let the first
    # messages of the batch come back before the window closed, and they were gathered twice)
    queue = make_queue_pair(visibility_timeout_s=10)
    sent = send(sqs_client, queue, [f"m{n}" for n in range(25)])
    handler = RecordingHandler()

    # WHEN one poller drains the queue
    summary = run(sqs_client, queue, handler, batch_size=25, batching_window_s=1.0)

    # THEN it gathered all 25 over several receives into one invocation
    assert summary.invocations == 1
    assert sorted(record["messageId"] for record in handler.events[0]["Records"]) == sorted(sent)


def test_runner_concurrent_pollers_invoke_handler_in_parallel(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
) -> None:
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


def test_runner_empty_queue_stops_when_drained(sqs_client: SQSClient, make_queue_pair: MakeQueuePair) -> None:
    # GIVEN an empty queue
    queue = make_queue_pair()
    handler = RecordingHandler()

    # WHEN the runner starts
    summary = run(sqs_client, queue, handler, max_concurrency=2, **LONG_POLL)

    # THEN it stops as drained (not at its deadline) without invoking
    assert summary.stopped_reason == "drained"
    assert summary.invocations == 0


def test_runner_never_drained_queue_stops_at_deadline(sqs_client: SQSClient, make_queue_pair: MakeQueuePair) -> None:
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


def test_runner_stop_called_from_another_thread_stops_run(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
) -> None:
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
) -> None:
    # GIVEN a FIFO queue
    queue = make_queue_pair(fifo=True)

    # WHEN the runner is configured with a setting only standard queues take
    # THEN it refuses to run
    with pytest.raises(ValueError, match=message):
        run(sqs_client, queue, RecordingHandler(), **settings)


def test_runner_visibility_timeout_below_function_timeout_is_rejected(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
) -> None:
    # GIVEN a queue with a 1 s visibility timeout
    queue = make_queue_pair(visibility_timeout_s=1)

    # WHEN the function timeout is longer
    # THEN the runner refuses, as Lambda does
    with pytest.raises(ValueError, match="less than the function timeout"):
        run(sqs_client, queue, RecordingHandler(), function_timeout_s=5.0)


def test_runner_batch_above_ten_without_window_is_rejected() -> None:
    # GIVEN a batch size above 10 and no batching window
    # WHEN the runner is built
    # THEN it refuses, as Lambda does
    with pytest.raises(ValueError, match="batching_window_s of at least 1"):
        EventSourceRunner(queue_url="http://127.0.0.1:1/q", handler=RecordingHandler(), batch_size=11, endpoint_url="x")
