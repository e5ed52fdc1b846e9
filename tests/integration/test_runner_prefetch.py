"""The local event-source runner keeps an execution environment busy, as Lambda's pollers do: the next batch is
gathered while the current one is invoked (one batch ahead at most), the deletes run off the environment's path,
and a batch gathered ahead when the run stops is returned to the queue, never lost nor invoked twice.

No test here measures time: each waits for an event the behaviour under test causes, with a bound that only a
broken runner reaches.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import TYPE_CHECKING, Any, cast

import pytest
from botocore.exceptions import ClientError

from local.runner import EventSourceRunner
from tests.integration.runner_helpers import MakeQueuePair, RecordingHandler, queue_depth, send

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

pytestmark = pytest.mark.integration

# A visibility timeout of at least two function timeouts: a batch gathered ahead waits for at most one invocation
# and then runs for at most another, so the runner gathers ahead only on such a queue.
PREFETCH: dict[str, Any] = {
    "batch_size": 2,
    "wait_time_s": 0,
    "function_timeout_s": 10.0,
    "max_seconds": 30.0,
    "max_concurrency": 1,
}
VISIBILITY_TIMEOUT_S = 30
# How long a handler waits for what a working runner does at once; only a broken runner runs into it.
BOUND_S = 5.0


class SqsSpy:
    """An SQS client that counts the receives returning messages, and can hold every DeleteMessageBatch until told."""

    def __init__(self, client: SQSClient, *, hold_deletes: bool = False, failing_deletes: int = 0) -> None:
        self._client = client
        self._failing_deletes = failing_deletes
        self._condition = threading.Condition()
        self.receives_with_messages = 0
        self.delete_started = threading.Event()
        self.delete_finished = threading.Event()
        self.deletes_may_proceed = threading.Event()
        if not hold_deletes:
            self.deletes_may_proceed.set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def receive_message(self, **kwargs: Any) -> Any:
        response = self._client.receive_message(**kwargs)
        if response.get("Messages"):
            with self._condition:
                self.receives_with_messages += 1
                self._condition.notify_all()
        return response

    def wait_for_receives(self, count: int, timeout: float = BOUND_S) -> bool:
        """Wait until ``count`` receives have returned messages; False if ``timeout`` passed first."""
        with self._condition:
            return self._condition.wait_for(lambda: self.receives_with_messages >= count, timeout=timeout)

    def delete_message_batch(self, **kwargs: Any) -> Any:
        self.delete_started.set()
        self.deletes_may_proceed.wait(BOUND_S)
        with self._condition:
            fail = self._failing_deletes > 0
            self._failing_deletes -= 1
        if fail:
            self.delete_finished.set()
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "DeleteMessageBatch")
        try:
            return self._client.delete_message_batch(**kwargs)
        finally:
            self.delete_finished.set()


def runner_for(spy: SqsSpy, url: str, handler: Any, **overrides: Any) -> EventSourceRunner:
    settings = {**PREFETCH, **overrides}
    return EventSourceRunner(queue_url=url, handler=handler, sqs_client=cast("SQSClient", spy), **settings)


def test_runner_gathers_next_batch_while_current_invocation_runs(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
) -> None:
    # GIVEN six messages, batches of two, one execution environment, and a first invocation that waits until
    # a second receive has returned messages
    queue = make_queue_pair(visibility_timeout_s=VISIBILITY_TIMEOUT_S)
    sent = send(sqs_client, queue, [f"m{n}" for n in range(6)])
    spy = SqsSpy(sqs_client)
    seen: dict[str, Any] = {}

    def respond(_event: dict[str, Any], index: int) -> object:
        if index == 0:
            seen["gathered_ahead"] = spy.wait_for_receives(2)
            seen["in_flight"] = queue_depth(sqs_client, queue.url)["ApproximateNumberOfMessagesNotVisible"]
            # One batch ahead, no more: a third receive needs this invocation to take the second batch first. (A
            # slow machine could only make this miss a runner that gathers further ahead, never fail a correct one.)
            seen["third_receive"] = spy.wait_for_receives(3, timeout=0.5)
        return None

    handler = RecordingHandler(respond)

    # WHEN the runner drains the queue
    summary = runner_for(spy, queue.url, handler).run()

    # THEN the next batch was received during the first invocation, exactly one batch ahead (its two messages in
    # flight with the two being invoked), and every message was invoked once and deleted
    assert seen["gathered_ahead"] is True
    assert seen["in_flight"] == 4
    assert seen["third_receive"] is False
    assert Counter(record["messageId"] for record in handler.records) == Counter(sent)
    assert summary.invocations == 3
    assert summary.messages_deleted == 6
    assert summary.messages_returned == 0
    assert summary.stopped_reason == "drained"
    assert set(queue_depth(sqs_client, queue.url).values()) == {0}


def test_runner_next_invocation_starts_while_previous_batch_is_being_deleted(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
) -> None:
    # GIVEN four messages, batches of two, one execution environment, and an SQS client whose DeleteMessageBatch
    # waits until the second invocation lets it go
    queue = make_queue_pair(visibility_timeout_s=VISIBILITY_TIMEOUT_S)
    sent = send(sqs_client, queue, [f"m{n}" for n in range(4)])
    spy = SqsSpy(sqs_client, hold_deletes=True)
    seen: dict[str, bool] = {}

    def respond(_event: dict[str, Any], index: int) -> object:
        if index == 1:
            spy.delete_started.wait(BOUND_S)
            seen["first_batch_still_deleting"] = spy.delete_started.is_set() and not spy.delete_finished.is_set()
            spy.deletes_may_proceed.set()
        return None

    handler = RecordingHandler(respond)

    # WHEN the runner drains the queue
    summary = runner_for(spy, queue.url, handler).run()

    # THEN the second invocation ran while the first batch's deletes were still held: settling does not hold the
    # environment; and everything was still invoked once and deleted
    assert seen["first_batch_still_deleting"] is True
    assert Counter(record["messageId"] for record in handler.records) == Counter(sent)
    assert summary.invocations == 2
    assert summary.messages_deleted == 4
    assert summary.delete_errors == 0
    assert summary.stopped_reason == "drained"
    assert set(queue_depth(sqs_client, queue.url).values()) == {0}


def test_runner_refused_delete_in_the_background_is_counted_and_the_messages_come_back(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
) -> None:
    # GIVEN four messages, batches of two, a 2 s visibility timeout (two function timeouts of 1 s: the runner
    # gathers ahead), and an SQS client whose first DeleteMessageBatch fails
    queue = make_queue_pair(visibility_timeout_s=2)
    sent = send(sqs_client, queue, [f"m{n}" for n in range(4)])
    spy = SqsSpy(sqs_client, failing_deletes=1)
    handler = RecordingHandler()

    # WHEN the runner drains the queue
    summary = runner_for(spy, queue.url, handler, function_timeout_s=1.0).run()

    # THEN the two messages whose delete failed were counted, came back after the visibility timeout, were invoked
    # again and deleted; nothing else was invoked twice
    deliveries = Counter(record["messageId"] for record in handler.records)
    assert set(deliveries) == set(sent)
    assert sorted(deliveries.values()) == [1, 1, 2, 2]
    assert summary.delete_errors == 2
    assert summary.messages_deleted == 4
    assert summary.stopped_reason == "drained"
    assert set(queue_depth(sqs_client, queue.url).values()) == {0}


def test_runner_batch_gathered_ahead_of_an_overrunning_invocation_is_returned_not_invoked(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
) -> None:
    # GIVEN four messages, batches of two, a 2 s visibility timeout and a 1 s function timeout, and a first
    # invocation that runs 1.5 s (past its timeout; the runner cannot stop it), while the next batch is gathered
    queue = make_queue_pair(visibility_timeout_s=2)
    sent = send(sqs_client, queue, [f"m{n}" for n in range(4)])
    spy = SqsSpy(sqs_client)

    def respond(_event: dict[str, Any], index: int) -> object:
        if index == 0:
            assert spy.wait_for_receives(2)
            threading.Event().wait(1.5)
        return None

    handler = RecordingHandler(respond)

    # WHEN the runner drains the queue
    summary = runner_for(spy, queue.url, handler, function_timeout_s=1.0).run()

    # THEN the batch gathered ahead had waited so long that its visibility timeout could have ended during its
    # own invocation: it was returned rather than invoked, and later invoked once; the first batch failed on its
    # timeout and came back
    first_batch = {record["messageId"] for record in handler.events[0]["Records"]}
    deliveries = Counter(record["messageId"] for record in handler.records)
    assert set(deliveries) == set(sent)
    assert {message_id: count for message_id, count in deliveries.items() if count > 1} == dict.fromkeys(first_batch, 2)
    assert summary.timeouts == 1
    assert summary.messages_returned == 2
    assert summary.messages_deleted == 4
    assert set(queue_depth(sqs_client, queue.url).values()) == {0}


def test_runner_stopped_with_a_batch_gathered_ahead_returns_it_to_the_queue(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
) -> None:
    # GIVEN six messages, batches of two, one execution environment, and a first invocation that stops the runner
    # once the next batch has been gathered ahead
    queue = make_queue_pair(visibility_timeout_s=VISIBILITY_TIMEOUT_S)
    sent = send(sqs_client, queue, [f"m{n}" for n in range(6)])
    spy = SqsSpy(sqs_client)
    handler = RecordingHandler()
    runner: EventSourceRunner | None = None

    def stop_once_gathered_ahead(_event: dict[str, Any], _index: int) -> object:
        assert runner is not None
        assert spy.wait_for_receives(2)
        runner.stop()
        return None

    first = RecordingHandler(stop_once_gathered_ahead)
    runner = runner_for(spy, queue.url, first)

    # WHEN the run stops during the first invocation
    stopped = runner.run()

    # THEN the first batch was invoked and deleted, and the batch gathered ahead was not invoked but made visible
    # again at once (not left in flight for the 30 s visibility timeout)
    assert stopped.stopped_reason == "stopped"
    assert stopped.invocations == 1
    assert stopped.messages_deleted == 2
    assert stopped.messages_returned == 2
    assert queue_depth(sqs_client, queue.url) == {
        "ApproximateNumberOfMessages": 4,
        "ApproximateNumberOfMessagesNotVisible": 0,
        "ApproximateNumberOfMessagesDelayed": 0,
    }

    # AND a new run invokes the four left, so over both runs every message was invoked exactly once
    drained = runner_for(SqsSpy(sqs_client), queue.url, handler).run()
    assert drained.stopped_reason == "drained"
    delivered = Counter(record["messageId"] for record in first.records + handler.records)
    assert delivered == Counter(sent)
    assert set(queue_depth(sqs_client, queue.url).values()) == {0}


def test_runner_fifo_gathers_ahead_only_other_groups_and_keeps_each_group_in_order(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
) -> None:
    # GIVEN a FIFO queue with group g1 = m1, m2, m3 and group g2 = n1, n2, n3, batches of two, one execution
    # environment, and a first invocation that waits for a second receive
    queue = make_queue_pair(fifo=True, visibility_timeout_s=VISIBILITY_TIMEOUT_S)
    send(sqs_client, queue, ["m1", "m2", "m3"], group="g1")
    send(sqs_client, queue, ["n1", "n2", "n3"], group="g2")
    spy = SqsSpy(sqs_client)
    seen: dict[str, bool] = {}

    def respond(_event: dict[str, Any], index: int) -> object:
        if index == 0:
            seen["gathered_ahead"] = spy.wait_for_receives(2)
        return None

    handler = RecordingHandler(respond)

    # WHEN the runner drains the queue
    summary = runner_for(spy, queue.url, handler).run()

    # THEN the batch gathered ahead held only g2 (SQS serves no message of a group with one in flight), and each
    # group was invoked once per message, in its order
    assert seen["gathered_ahead"] is True
    first, second = ([record["body"] for record in event["Records"]] for event in handler.events[:2])
    assert first == ["m1", "m2"]
    assert second == ["n1", "n2"]

    def group_order(group: str) -> list[str]:
        return [record["body"] for record in handler.records if record["attributes"]["MessageGroupId"] == group]

    assert group_order("g1") == ["m1", "m2", "m3"]
    assert group_order("g2") == ["n1", "n2", "n3"]
    assert summary.messages_deleted == 6
    assert summary.fifo_order_violations == 0
    assert set(queue_depth(sqs_client, queue.url).values()) == {0}
