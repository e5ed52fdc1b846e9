"""One poller of the event source mapping: gather a batch from the queue, invoke the function with it, settle it.

Lambda's SQS event source mapping runs several pollers, each invoking the function one batch at a time
(https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html). A poller long-polls ReceiveMessage, at most 10
messages a call, with every system and message attribute; a batch size above 10 is gathered over several calls
within the batching window. It invokes the handler in its own thread, with Lambda's event and a context counting
down from the function timeout, and hands the answer to ``local.settlement``. A handler that runs past its timeout
is not stopped (it shares the process): its answer is thrown away, and its batch fails.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from local.lambda_runtime import Handler, LambdaContext, log_stream_name
from local.run_summary import RunCounters
from local.settlement import ResponseVerdict, delete_acknowledged, fifo_order_violations, judge_response
from local.sqs_event import SqsEvent, SqsRecord, build_event

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

__all__ = ["RECEIVE_MAX", "PollSettings", "Poller", "QueueInfo", "describe_queue"]

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


@dataclass(frozen=True, slots=True)
class _Invocation:
    """One invocation's batch, and what the function's answer came to (None: the whole batch failed)."""

    messages: list[MessageTypeDef]
    records: list[SqsRecord]
    request_id: str
    verdict: ResponseVerdict | None


class Poller:
    """Polls the queue and invokes the handler, one batch at a time, until ``stop`` is set or the deadline passes.

    Parameters
    ----------
    client
        The SQS client (shared by the pollers: its pool needs a connection per poller).
    queue
        The queue polled.
    handler
        The function's handler.
    settings
        Batching, polling and function settings.
    counters
        The run's counts, shared with the other pollers and the watcher.
    stop
        Set to stop polling; a batch in progress is still invoked and settled.
    """

    def __init__(
        self,
        *,
        client: SQSClient,
        queue: QueueInfo,
        handler: Handler,
        settings: PollSettings,
        counters: RunCounters,
        stop: threading.Event,
    ) -> None:
        self._client = client
        self._queue = queue
        self._handler = handler
        self._settings = settings
        self._counters = counters
        self._stop = stop
        # One per poller, as one per execution environment.
        self._log_stream_name = log_stream_name()

    def run(self, deadline: float) -> None:
        """Poll until stopped or ``deadline`` (``time.monotonic()``); each batch is released when settled."""
        while not self._stop.is_set() and time.monotonic() < deadline:
            self._handle(self._gather(deadline))

    def _handle(self, messages: list[MessageTypeDef]) -> None:
        """Invoke the function with a gathered batch (if any) and settle it; the batch is then released."""
        if not messages:
            return
        try:
            self._settle(self._invoke(messages))
        finally:
            self._counters.released()

    # --- gathering a batch -----------------------------------------------------------------------------------

    def _gather(self, deadline: float) -> list[MessageTypeDef]:
        """Receive up to batch_size messages: one call, or several within the batching window."""
        settings = self._settings
        messages: list[MessageTypeDef] = []
        payload_bytes = 0
        window_end: float | None = None
        while True:
            wait_s = self._wait_s(deadline, window_end)
            if wait_s is None:
                break
            received = self._receive(min(RECEIVE_MAX, settings.batch_size - len(messages)), wait_s)
            if received:
                self._counters.received(first_of_batch=window_end is None)
                if window_end is None:
                    window_end = time.monotonic() + settings.batching_window_s
                messages.extend(received)
                payload_bytes += sum(len(message.get("Body", "").encode()) for message in received)
            elif window_end is None:
                if wait_s == 0:
                    # A short poll (wait_time_s=0, or under a second left): pause rather than spin.
                    self._stop.wait(_SHORT_POLL_PAUSE_S)
                return messages  # nothing arrived: let the loop re-check stop and deadline
            elif wait_s == 0:
                time.sleep(_SHORT_POLL_PAUSE_S)
            if (
                len(messages) >= settings.batch_size
                or settings.batching_window_s <= 0
                or payload_bytes >= _PAYLOAD_SOFT_LIMIT_BYTES
                or self._stop.is_set()
            ):
                break
        return messages

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

    # --- invoking ----------------------------------------------------------------------------------------------

    def _invoke(self, messages: list[MessageTypeDef]) -> _Invocation:
        queue, settings = self._queue, self._settings
        event = build_event(messages, queue_arn=queue.arn, region=queue.region)
        records = list(event["Records"])  # the handler may mutate the event; keep our own view
        context = LambdaContext(
            function_name=settings.function_name,
            region=queue.region,
            account_id=queue.account_id,
            timeout_s=settings.function_timeout_s,
            memory_limit_in_mb=settings.memory_limit_in_mb,
            log_stream_name=self._log_stream_name,
        )
        self._counters.invocation_started(len(records))
        started = time.monotonic()
        try:
            verdict = self._call_handler(event, context, [record["messageId"] for record in records])
        finally:
            self._counters.invocation_ended()
        elapsed = time.monotonic() - started
        if verdict is not None and elapsed > settings.function_timeout_s:
            # Lambda would have stopped the function at its timeout, so whatever it returned never arrived.
            logger.warning("invocation %s timed out after %.1f s", context.aws_request_id, elapsed)
            self._counters.add(timeouts=1)
            verdict = None
        return _Invocation(messages=messages, records=records, request_id=context.aws_request_id, verdict=verdict)

    def _call_handler(self, event: SqsEvent, context: LambdaContext, message_ids: list[str]) -> ResponseVerdict | None:
        """Invoke; None means the whole batch failed (exception or invalid response)."""
        try:
            response = self._handler(event, context)
        except Exception as error:  # the function's error: Lambda fails the batch, the poller carries on
            logger.warning("invocation %s raised %s", context.aws_request_id, type(error).__name__)
            logger.debug("invocation %s traceback", context.aws_request_id, exc_info=True)
            self._counters.add(handler_exceptions=1)
            return None
        verdict = judge_response(response, message_ids)
        if verdict.invalid_reason is not None:
            logger.warning(
                "invocation %s returned an invalid response: %s", context.aws_request_id, verdict.invalid_reason
            )
            self._counters.add(invalid_responses=1)
            return None
        return verdict

    # --- settling ----------------------------------------------------------------------------------------------

    def _settle(self, invocation: _Invocation) -> None:
        """Delete what the function acknowledged; leave the rest to the visibility timeout and the redrive policy."""
        request_id, records = invocation.request_id, invocation.records
        if invocation.verdict is None:
            self._counters.add(batches_failed=1)
            logger.info("invocation %s: whole batch of %d failed", request_id, len(records))
            return
        failed_ids = invocation.verdict.failed_ids
        if self._queue.fifo:
            violations = fifo_order_violations(records, failed_ids)
            if violations:
                logger.warning(
                    "invocation %s acknowledged %d FIFO message(s) after a failure in their group: %s",
                    request_id,
                    len(violations),
                    ", ".join(violations),
                )
                self._counters.add(fifo_order_violations=len(violations))
        acknowledged = [message for message in invocation.messages if message["MessageId"] not in failed_ids]
        outcome = delete_acknowledged(self._client, self._queue.url, acknowledged)
        self._counters.add(
            messages_reported_failed=len(failed_ids), messages_deleted=outcome.deleted, delete_errors=outcome.errors
        )
        logger.info(
            "invocation %s: %d records, %d reported failed, %d deleted",
            request_id,
            len(records),
            len(failed_ids),
            outcome.deleted,
        )
