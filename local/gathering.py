"""Gathering a batch as Lambda's SQS pollers do: the queue's description, the poll settings, and the receives.

A poller long-polls ReceiveMessage, at most 10 messages a call, with every system and message attribute; a batch
size above 10 is gathered over several calls within the batching window
(https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from local.run_summary import RunCounters

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

__all__ = ["RECEIVE_MAX", "Batch", "Gatherer", "PollSettings", "QueueInfo", "describe_queue"]

logger = logging.getLogger(__name__)

# ReceiveMessage returns at most 10 messages per call
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html).
RECEIVE_MAX = 10
# Lambda invokes early once the batch nears the 6 MB synchronous-invocation payload quota. The poller stops
# gathering a little below it, since the next ReceiveMessage could return up to 10 more messages.
_PAYLOAD_SOFT_LIMIT_BYTES = 5 * 1024 * 1024
# After a failed SQS call, wait before polling again instead of hammering a server that is down.
_POLL_ERROR_BACKOFF_S = 0.5
# Between short polls (an empty queue within a batching window, or wait_time_s=0) the poller pauses this
# long, so it does not spin against the server.
_SHORT_POLL_PAUSE_S = 0.05


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """The polled queue, as GetQueueAttributes describes it."""

    url: str
    arn: str
    region: str
    account_id: str
    fifo: bool
    visibility_timeout_s: int


def describe_queue(client: SQSClient, queue_url: str) -> QueueInfo:
    """Ask SQS for the queue's ARN (hence region and account), visibility timeout and type."""
    attributes = client.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn", "VisibilityTimeout", "FifoQueue"]
    )["Attributes"]
    arn = attributes["QueueArn"]
    # arn:aws:sqs:<region>:<account>:<name>
    _arn, _partition, _service, region, account_id, _name = arn.split(":", 5)
    return QueueInfo(
        url=queue_url,
        arn=arn,
        region=region,
        account_id=account_id,
        fifo=attributes.get("FifoQueue") == "true",
        visibility_timeout_s=int(attributes["VisibilityTimeout"]),
    )


@dataclass(frozen=True, slots=True)
class PollSettings:
    """The event source mapping's and the function's settings a poller works with (``EventSourceRunner``'s)."""

    batch_size: int
    batching_window_s: float
    wait_time_s: int
    function_timeout_s: float
    function_name: str
    memory_limit_in_mb: int


@dataclass(slots=True)
class Batch:
    """A gathered batch: its messages in receive order, and when the first of them was received (monotonic)."""

    messages: list[MessageTypeDef] = field(default_factory=list)
    first_received_at: float = 0.0


class Gatherer:
    """Gathers one poller's batches; every batch it returns with messages counts as held (``RunCounters``).

    Parameters
    ----------
    client
        The SQS client.
    queue
        The queue polled.
    settings
        Batching and polling settings.
    counters
        The run's counts.
    stop
        Set to stop polling: a gather under way returns what it has.
    """

    def __init__(
        self,
        *,
        client: SQSClient,
        queue: QueueInfo,
        settings: PollSettings,
        counters: RunCounters,
        stop: threading.Event,
    ) -> None:
        self._client = client
        self._queue = queue
        self._settings = settings
        self._counters = counters
        self._stop = stop

    def next_batch(self, deadline: float) -> Batch:
        """Gather until a batch has messages, or stop is set, or ``deadline`` passes (then it may be empty)."""
        while not self._stop.is_set() and time.monotonic() < deadline:
            batch = self.gather(deadline)
            if batch.messages:
                return batch
        return Batch()

    def gather(self, deadline: float) -> Batch:
        """Receive up to batch_size messages: one call, or several within the batching window."""
        settings = self._settings
        batch = Batch()
        payload_bytes = 0
        window_end: float | None = None
        while True:
            wait_s = self._wait_s(deadline, window_end)
            if wait_s is None:
                break
            received = self._receive(min(RECEIVE_MAX, settings.batch_size - len(batch.messages)), wait_s)
            if received:
                self._counters.received(first_of_batch=window_end is None)
                if window_end is None:
                    batch.first_received_at = time.monotonic()
                    window_end = batch.first_received_at + settings.batching_window_s
                batch.messages.extend(received)
                payload_bytes += sum(len(message.get("Body", "").encode()) for message in received)
            elif window_end is None:
                if wait_s == 0:
                    # A short poll (wait_time_s=0, or under a second left): pause rather than spin.
                    self._stop.wait(_SHORT_POLL_PAUSE_S)
                return batch  # nothing arrived: let the caller re-check stop and deadline
            elif wait_s == 0:
                time.sleep(_SHORT_POLL_PAUSE_S)
            if (
                len(batch.messages) >= settings.batch_size
                or settings.batching_window_s <= 0
                or payload_bytes >= _PAYLOAD_SOFT_LIMIT_BYTES
                or self._stop.is_set()
            ):
                break
        return batch

    def _wait_s(self, deadline: float, window_end: float | None) -> int | None:
        """The next receive's WaitTimeSeconds (whole seconds); None once the batching window has closed."""
        if window_end is None:
            # Waiting for a first message: long poll, but not past the deadline.
            return min(self._settings.wait_time_s, max(0, int(deadline - time.monotonic())))
        window_left = window_end - time.monotonic()
        if window_left <= 0:
            return None
        return min(self._settings.wait_time_s, int(window_left))

    def _receive(self, count: int, wait_s: int) -> list[MessageTypeDef]:
        try:
            response = self._client.receive_message(
                QueueUrl=self._queue.url,
                MaxNumberOfMessages=count,
                WaitTimeSeconds=wait_s,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        except (BotoCoreError, ClientError) as error:
            logger.warning("ReceiveMessage failed: %s", type(error).__name__)
            self._counters.add(poll_errors=1)
            self._stop.wait(_POLL_ERROR_BACKOFF_S)
            return []
        return response.get("Messages", [])
