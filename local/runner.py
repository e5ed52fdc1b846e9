"""A local event-source runner: poll an SQS queue the way Lambda's SQS event source mapping does.

On AWS, the Lambda service polls the queue, invokes the function with a batch, and deletes what the function
acknowledged. Locally, this runner does the same against moto's SQS server, so the real handler runs
unchanged. What it reproduces, per https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html and
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html:

- **Polling**: long-polling ReceiveMessage, at most 10 messages per call; a batch size above 10 is gathered
  over several calls within the batching window. All system attributes and all message attributes.
- **The event**: the exact Lambda SQS event (``Records`` of ``messageId``, ``receiptHandle``, ``body``,
  ``attributes``, ``messageAttributes``, ``md5OfBody``, ``eventSource``, ``eventSourceARN``, ``awsRegion``).
- **ReportBatchItemFailures**: messages not listed in ``batchItemFailures`` are deleted; listed ones stay and
  reappear after the queue's visibility timeout. An exception, a timeout or an invalid response fails the
  whole batch (nothing deleted). Lambda applies the same rule to FIFO queues: keeping a group's order is the
  function's job ("stop processing messages after the first failure and return all failed and unprocessed
  messages"). The runner counts acknowledgements that break a group's order, so tests can catch them.
- **Redrive**: left to the queue. Lambda never moves messages to the DLQ itself; SQS does, on a receive
  after ``maxReceiveCount`` receives (moto implements this on ReceiveMessage too).
- **Concurrency**: ``max_concurrency`` pollers, each running one invocation at a time.

What it does not reproduce: the poller fleet's scaling and back-off, a per-invocation process (the handler
runs in this process, in the poller's thread, and a timed-out handler is not killed: it finishes, and its
batch then counts as failed), and Lambda's own retries of throttled invocations.

Standalone::

    python -m local.runner --endpoint-url http://127.0.0.1:9324 --queue-url <url> \\
        --handler ingest.handler.lambda_handler --env DEAD_LETTER_QUEUE_URL=<url> --max-concurrency 2
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime
import importlib
import json
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from local.sqs_server import make_sqs_client

if TYPE_CHECKING:
    from collections.abc import Iterator
    from collections.abc import Set as AbstractSet

    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType
    from mypy_boto3_sqs.type_defs import (
        DeleteMessageBatchRequestEntryTypeDef,
        MessageAttributeValueOutputTypeDef,
        MessageTypeDef,
    )

__all__ = [
    "BatchItemFailure",
    "BatchResponse",
    "EventSourceRunner",
    "Handler",
    "LambdaContext",
    "ResponseVerdict",
    "RunSummary",
    "SqsEvent",
    "SqsMessageAttribute",
    "SqsRecord",
    "SqsRecordAttributes",
    "build_event",
    "build_record",
    "fifo_order_violations",
    "interpret_response",
    "load_handler",
    "main",
    "run_event_source",
]

logger = logging.getLogger(__name__)

# Any, not the TypedDicts below: real handlers annotate the event as dict[str, Any] or Powertools' SQSEvent
# and the context as Powertools' LambdaContext, and a callable's parameters are contravariant, so anything
# narrower would reject them. Whatever it returns is judged by interpret_response.
Handler = Callable[[Any, Any], object]

# ReceiveMessage returns at most 10 messages per call
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html).
_RECEIVE_MAX = 10
# DeleteMessageBatch takes at most 10 entries.
_DELETE_MAX = 10
# Event source mapping limits (https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html):
# BatchSize 1..10000 for standard queues and 1..10 for FIFO; MaximumBatchingWindowInSeconds 0..300, standard
# queues only, and at least 1 when BatchSize > 10.
_BATCH_SIZE_MAX_STANDARD = 10_000
_BATCH_SIZE_MAX_FIFO = 10
_BATCHING_WINDOW_MAX_S = 300
# Long polling waits at most 20 s per call.
_WAIT_TIME_MAX_S = 20
# Lambda invokes early once the batch nears the 6 MB synchronous-invocation payload quota. The runner stops
# gathering a little below it, since the next ReceiveMessage could return up to 10 more messages.
_PAYLOAD_SOFT_LIMIT_BYTES = 5 * 1024 * 1024
# "Drained" must hold this many checks in a row, so a message between two states (just deleted by one
# poller while another is about to receive) does not end the run early.
_DRAIN_CHECKS_REQUIRED = 2
_QUEUE_DEPTH_ATTRIBUTES: tuple[QueueAttributeNameType, ...] = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
# The drain check asks for "All" rather than the three names above: moto 5.x computes every queue attribute
# (each a scan of every message) three times per *named* attribute but once for "All"
# (moto/sqs/models.py, SQSBackend.get_queue_attributes). On a queue of 600 messages that is 86 ms of CPU per
# check against 13 ms, taken from the handler under test in the same process. SQS answers both alike.
_DRAIN_CHECK_ATTRIBUTES: list[QueueAttributeNameType] = ["All"]
# After a failed SQS call, wait before polling again instead of hammering a server that is down.
_POLL_ERROR_BACKOFF_S = 0.5
# Between short polls (an empty queue within a batching window, or wait_time_s=0) the runner pauses this
# long, so it does not spin against the server.
_SHORT_POLL_PAUSE_S = 0.05

_DEFAULT_SOURCE_ROOT = Path(__file__).resolve().parent.parent / "lambdas"

StopReason = Literal["drained", "deadline", "stopped"]


# --- The wire shapes: the Lambda SQS event and the partial batch response -------------------------------


class SqsMessageAttribute(TypedDict):
    """One message attribute as Lambda renders it (binary values base64-encoded)."""

    stringValue: NotRequired[str]
    binaryValue: NotRequired[str]
    stringListValues: list[str]
    binaryListValues: list[str]
    dataType: str


class SqsRecordAttributes(TypedDict):
    """The system attributes of a record; every value a string, as in Lambda's event."""

    ApproximateReceiveCount: str
    SentTimestamp: str
    SenderId: str
    ApproximateFirstReceiveTimestamp: str
    SequenceNumber: NotRequired[str]
    MessageGroupId: NotRequired[str]
    MessageDeduplicationId: NotRequired[str]
    AWSTraceHeader: NotRequired[str]
    DeadLetterQueueSourceArn: NotRequired[str]


class SqsRecord(TypedDict):
    """One record of the Lambda SQS event (``md5OfMessageAttributes`` only when the message has attributes)."""

    messageId: str
    receiptHandle: str
    body: str
    attributes: SqsRecordAttributes
    messageAttributes: dict[str, SqsMessageAttribute]
    md5OfMessageAttributes: NotRequired[str]
    md5OfBody: str
    eventSource: Literal["aws:sqs"]
    eventSourceARN: str
    awsRegion: str


class SqsEvent(TypedDict):
    """The event Lambda passes to a function subscribed to an SQS queue."""

    Records: list[SqsRecord]


class BatchItemFailure(TypedDict):
    """One entry of a partial batch response: the ``messageId`` of a record to retry."""

    itemIdentifier: str


class BatchResponse(TypedDict):
    """The partial batch response a function returns with ReportBatchItemFailures turned on."""

    batchItemFailures: list[BatchItemFailure]


# Required first, then FIFO and tracing ones when SQS returned them.
_REQUIRED_SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
)
_OPTIONAL_SYSTEM_ATTRIBUTES = (
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)


def build_record(message: MessageTypeDef, *, queue_arn: str, region: str) -> SqsRecord:
    """Render one ReceiveMessage message as a Lambda SQS event record.

    Parameters
    ----------
    message
        A message from boto3's ``receive_message`` (asked for all system and message attributes).
    queue_arn
        The queue's ARN, the record's ``eventSourceARN``.
    region
        The queue's region, the record's ``awsRegion``.
    """
    # Keyed by a Literal in the stubs; plain strings here, to loop over the names.
    received = cast("Mapping[str, str]", message.get("Attributes", {}))
    attributes = cast(SqsRecordAttributes, {name: str(received[name]) for name in _REQUIRED_SYSTEM_ATTRIBUTES})
    for name in _OPTIONAL_SYSTEM_ATTRIBUTES:
        if name in received:
            # The TypedDict has exactly these optional keys; mypy cannot follow a loop over their names.
            attributes[name] = str(received[name])  # type: ignore[literal-required]
    message_attributes = {
        name: _lambda_message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
    }
    record: SqsRecord = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
    }  # type: ignore[typeddict-item]  # completed below, in Lambda's key order
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record["md5OfBody"] = message["MD5OfBody"]
    record["eventSource"] = "aws:sqs"
    record["eventSourceARN"] = queue_arn
    record["awsRegion"] = region
    return record


def build_event(messages: Sequence[MessageTypeDef], *, queue_arn: str, region: str) -> SqsEvent:
    """Render a batch of ReceiveMessage messages as the Lambda SQS event, in receive order."""
    return {"Records": [build_record(message, queue_arn=queue_arn, region=region) for message in messages]}


def _lambda_message_attribute(value: MessageAttributeValueOutputTypeDef) -> SqsMessageAttribute:
    # Built key by key to keep Lambda's key order (value first, dataType last).
    attribute = cast(SqsMessageAttribute, {})
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        # boto3 decodes binary values to bytes; Lambda's JSON event carries them base64-encoded.
        attribute["binaryValue"] = _b64(value["BinaryValue"])
    attribute["stringListValues"] = list(value.get("StringListValues", []))
    attribute["binaryListValues"] = [_b64(item) for item in value.get("BinaryListValues", [])]
    attribute["dataType"] = value["DataType"]
    return attribute


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True, slots=True)
class ResponseVerdict:
    """How Lambda reads a function's response to a batch.

    Attributes
    ----------
    failed_ids
        The message ids to leave on the queue (all of them when the response is invalid).
    invalid_reason
        Why the response fails the whole batch, or None when it is valid.
    """

    failed_ids: frozenset[str]
    invalid_reason: str | None = None


def interpret_response(response: object, message_ids: Sequence[str]) -> ResponseVerdict:
    """Apply Lambda's success and failure conditions for a partial batch response.

    Complete success: a null response, an empty object, a null or empty ``batchItemFailures`` list.
    Complete failure: a response that is not a JSON object, ``batchItemFailures`` that is not a list, an entry
    without ``itemIdentifier`` (bad key name), a null or empty ``itemIdentifier``, or one that is not the
    ``messageId`` of a record in the batch
    (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html).

    Parameters
    ----------
    response
        What the handler returned.
    message_ids
        The ``messageId`` of every record in the batch.
    """
    everything = frozenset(message_ids)

    def invalid(reason: str) -> ResponseVerdict:
        return ResponseVerdict(failed_ids=everything, invalid_reason=reason)

    if response is None:
        return ResponseVerdict(failed_ids=frozenset())
    if not isinstance(response, Mapping):
        return invalid(f"response is a {type(response).__name__}, not a JSON object")
    failures = response.get("batchItemFailures")
    if failures is None:
        return ResponseVerdict(failed_ids=frozenset())
    if not isinstance(failures, list):
        return invalid(f"batchItemFailures is a {type(failures).__name__}, not a list")
    failed: set[str] = set()
    for entry in failures:
        if not isinstance(entry, Mapping):
            return invalid(f"a batchItemFailures entry is a {type(entry).__name__}, not an object")
        if "itemIdentifier" not in entry:
            return invalid("a batchItemFailures entry has no itemIdentifier key")
        identifier = entry["itemIdentifier"]
        if identifier is None or identifier == "":
            return invalid("a batchItemFailures entry has a null or empty itemIdentifier")
        if not isinstance(identifier, str) or identifier not in everything:
            return invalid(f"itemIdentifier {identifier!r} is not a messageId of this batch")
        failed.add(identifier)
    return ResponseVerdict(failed_ids=frozenset(failed))


def fifo_order_violations(records: Sequence[SqsRecord], failed_ids: AbstractSet[str]) -> list[str]:
    """Message ids acknowledged after an earlier message of the same group failed in this batch.

    Lambda deletes them all the same; on a FIFO queue that breaks the group's order, because the failed
    message is redelivered after the later ones were processed.
    """
    failed_groups: set[str] = set()
    violations: list[str] = []
    for record in records:
        group = record["attributes"].get("MessageGroupId")
        if group is None:
            continue
        if record["messageId"] in failed_ids:
            failed_groups.add(group)
        elif group in failed_groups:
            violations.append(record["messageId"])
    return violations


# --- The Lambda context -----------------------------------------------------------------------------------


class LambdaContext:
    """A Lambda-like context object, as the Python runtime passes it to the handler.

    ``get_remaining_time_in_millis`` counts down from the function timeout, starting when the object is
    built (at the invocation).
    """

    def __init__(
        self,
        *,
        function_name: str,
        region: str,
        account_id: str,
        timeout_s: float,
        memory_limit_in_mb: int,
        log_stream_name: str,
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = log_stream_name
        self.identity: object | None = None
        self.client_context: object | None = None
        self.tenant_id: str | None = None
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the invocation times out (0 once it has)."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _log_stream_name() -> str:
    # One per poller, like one per execution environment: "2026/11/22/[$LATEST]<32 hex>".
    today = datetime.datetime.now(tz=datetime.UTC).strftime("%Y/%m/%d")
    return f"{today}/[$LATEST]{uuid.uuid4().hex}"


# --- Loading the real handler -----------------------------------------------------------------------------


def load_handler(
    handler_path: str,
    environment: Mapping[str, str],
    *,
    source_root: str | os.PathLike[str] | None = None,
    cold_start: bool = True,
) -> Handler:
    """Set the function's environment, then import its handler, like a Lambda cold start.

    The environment goes into ``os.environ`` *before* the import, because the handler reads its
    configuration at module load (DESIGN.md, Contract 2). It is added to the process environment, not
    substituted for it, so the dummy credentials and endpoints already there stay visible.

    Parameters
    ----------
    handler_path
        ``module.attribute``, as in the function's Handler setting, e.g. ``ingest.handler.lambda_handler``.
    environment
        The function's environment variables.
    source_root
        The asset root the module is imported from (put on ``sys.path``); ``lambdas/`` by default.
    cold_start
        Import every module of ``source_root`` afresh, so module-level configuration is read again with this
        environment (a second call is a new cold start, not a warm one). The fresh modules are private to the
        returned handler: ``sys.modules`` is given back exactly as it was, so whoever imported those modules
        before (a test that patches ``ingest.pipeline``, another loaded handler) keeps the ones it holds. Classes
        a caller imported before are therefore not the ones the new handler uses (an ``isinstance`` across the
        two fails); pass False to import into the shared module table instead, reusing what is loaded.

    Returns
    -------
    Handler
        The handler callable.
    """
    module_name, _, attribute = handler_path.rpartition(".")
    if not module_name or not attribute:
        raise ValueError(f"handler must be 'module.attribute', got {handler_path!r}")
    root = Path(source_root) if source_root is not None else _DEFAULT_SOURCE_ROOT
    root = root.resolve()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    os.environ.update(environment)
    importlib.invalidate_caches()
    module = _import_fresh(module_name, root) if cold_start else importlib.import_module(module_name)
    handler = getattr(module, attribute, None)
    if handler is None or not callable(handler):
        raise TypeError(f"{handler_path!r} is not a callable in {module.__name__}")
    return cast(Handler, handler)


# sys.modules is one table for the whole process: two cold starts swapping it at once would mix their modules.
_MODULE_TABLE_LOCK = threading.Lock()


def _import_fresh(module_name: str, root: Path) -> ModuleType:
    """Import ``module_name`` and every module of ``root`` it needs anew, then put ``sys.modules`` back.

    Deleting the asset's modules for good (what a cold start seems to need) breaks everyone else in the process
    who imported them: ``monkeypatch.setattr(ingest.pipeline, ...)`` would patch a module the handler no longer
    uses, and ``importlib.reload`` would refuse a module missing from the table. So the asset's modules are
    taken out only for the import, and the fresh ones stay reachable only through the module returned.
    """
    with _MODULE_TABLE_LOCK:
        saved = {name: module for name, module in sys.modules.items() if _is_under(module, root)}
        for name in saved:
            del sys.modules[name]
        try:
            return importlib.import_module(module_name)
        finally:
            for name in [name for name, module in list(sys.modules.items()) if _is_under(module, root)]:
                del sys.modules[name]
            sys.modules.update(saved)


def _is_under(module: ModuleType | None, root: Path) -> bool:
    locations = [getattr(module, "__file__", None), *list(getattr(module, "__path__", None) or [])]
    return any(location and Path(location).resolve().is_relative_to(root) for location in locations)


# --- The runner -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a run did, in counts (message ids and bodies stay in the logs and the queues).

    Attributes
    ----------
    invocations
        Handler invocations.
    messages_received
        Messages handed to the handler, counting each delivery of a redelivered message.
    messages_deleted
        Messages DeleteMessageBatch removed (the acknowledged ones).
    messages_reported_failed
        Messages listed in a valid ``batchItemFailures``.
    batches_failed
        Invocations whose whole batch failed: an exception, a timeout or an invalid response.
    handler_exceptions
        Invocations that raised.
    invalid_responses
        Invocations whose response Lambda would reject (see ``interpret_response``) or not serialise.
    timeouts
        Invocations that ran past the function timeout.
    fifo_order_violations
        FIFO messages acknowledged after an earlier message of their group failed in the same batch.
    delete_errors
        Messages whose deletion SQS refused (they will be redelivered).
    poll_errors
        SQS calls of the pollers that failed (network, server).
    peak_concurrency
        The most invocations in progress at once.
    stopped_reason
        ``drained``, ``deadline`` (``max_seconds``) or ``stopped`` (``EventSourceRunner.stop``).
    wall_time_s
        Seconds from start to the last poller's exit.
    """

    invocations: int
    messages_received: int
    messages_deleted: int
    messages_reported_failed: int
    batches_failed: int
    handler_exceptions: int
    invalid_responses: int
    timeouts: int
    fifo_order_violations: int
    delete_errors: int
    poll_errors: int
    peak_concurrency: int
    stopped_reason: StopReason
    wall_time_s: float

    def to_dict(self) -> dict[str, object]:
        """The summary as a JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclass
class _Counters:
    invocations: int = 0
    messages_received: int = 0
    messages_deleted: int = 0
    messages_reported_failed: int = 0
    batches_failed: int = 0
    handler_exceptions: int = 0
    invalid_responses: int = 0
    timeouts: int = 0
    fifo_order_violations: int = 0
    delete_errors: int = 0
    poll_errors: int = 0
    peak_concurrency: int = 0
    # Pollers holding received messages (gathering, invoking or deleting): part of "drained".
    holding: int = 0
    # ReceiveMessage calls that returned messages: activity since the last drain check means "not drained yet".
    receives_with_messages: int = 0
    # Invocations in progress, for peak_concurrency.
    running: int = 0


@dataclass(frozen=True, slots=True)
class _Queue:
    url: str
    arn: str
    region: str
    account_id: str
    fifo: bool
    visibility_timeout_s: int


class EventSourceRunner:
    """Poll one SQS queue and invoke a handler with Lambda SQS events, until drained or a deadline.

    Parameters
    ----------
    queue_url
        The queue to poll.
    handler
        ``(event, context) -> response``; any callable (``load_handler`` gives the real one).
    sqs_client
        The SQS client to use; otherwise one is built for ``endpoint_url``.
    endpoint_url
        moto's server endpoint, when no client is given. With neither, boto3's default chain is used
        (``AWS_ENDPOINT_URL_SQS`` and friends).
    batch_size
        The event source's BatchSize: the most records per invocation (1..10000; FIFO 1..10).
    batching_window_s
        MaximumBatchingWindowInSeconds: how long to keep gathering a batch after its first message (0..300,
        fractions allowed locally; at least 1 when ``batch_size`` > 10; standard queues only).
    max_concurrency
        Concurrent pollers, each invoking the handler (the event source's MaximumConcurrency; Lambda's
        minimum is 2, locally 1 is allowed for deterministic tests).
    function_timeout_s
        The function timeout: the context counts down from it, and an invocation that runs longer fails
        its batch. Like Lambda, it may not exceed the queue's visibility timeout.
    wait_time_s
        Long-poll WaitTimeSeconds (0..20). Lambda uses 20; a short one keeps the runner's stop responsive.
    max_seconds
        The deadline: stop polling after this long (invocations in progress finish).
    stop_when_drained
        Stop once the queue has no visible, in-flight or delayed message and no poller holds one.
    drain_check_interval_s
        How often the drained condition is checked.
    function_name
        The function name in the context (and its ARN and log group).
    memory_limit_in_mb
        ``context.memory_limit_in_mb``.
    """

    def __init__(
        self,
        *,
        queue_url: str,
        handler: Handler,
        sqs_client: SQSClient | None = None,
        endpoint_url: str | None = None,
        batch_size: int = 10,
        batching_window_s: float = 0.0,
        max_concurrency: int = 2,
        function_timeout_s: float = 30.0,
        wait_time_s: int = 1,
        max_seconds: float = 300.0,
        stop_when_drained: bool = True,
        drain_check_interval_s: float = 0.2,
        function_name: str = "ingest",
        memory_limit_in_mb: int = 512,
    ) -> None:
        if not 1 <= batch_size <= _BATCH_SIZE_MAX_STANDARD:
            raise ValueError(f"batch_size must be within 1..{_BATCH_SIZE_MAX_STANDARD}, got {batch_size}")
        if not 0 <= batching_window_s <= _BATCHING_WINDOW_MAX_S:
            raise ValueError(f"batching_window_s must be within 0..{_BATCHING_WINDOW_MAX_S}, got {batching_window_s}")
        if batch_size > _RECEIVE_MAX and batching_window_s < 1:
            raise ValueError("a batch_size above 10 needs a batching_window_s of at least 1 s (as in Lambda)")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if function_timeout_s <= 0:
            raise ValueError(f"function_timeout_s must be positive, got {function_timeout_s}")
        if not 0 <= wait_time_s <= _WAIT_TIME_MAX_S:
            raise ValueError(f"wait_time_s must be within 0..{_WAIT_TIME_MAX_S}, got {wait_time_s}")
        if max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, got {max_seconds}")
        self._queue_url = queue_url
        self._handler = handler
        self._client = sqs_client if sqs_client is not None else _default_client(endpoint_url, max_concurrency)
        self._batch_size = batch_size
        self._batching_window_s = batching_window_s
        self._max_concurrency = max_concurrency
        self._function_timeout_s = function_timeout_s
        self._wait_time_s = wait_time_s
        self._max_seconds = max_seconds
        self._stop_when_drained = stop_when_drained
        self._drain_check_interval_s = drain_check_interval_s
        self._function_name = function_name
        self._memory_limit_in_mb = memory_limit_in_mb
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._counters = _Counters()
        self._fatal: BaseException | None = None
        self._receives_at_last_check = 0

    def stop(self) -> None:
        """Ask a running ``run`` to stop polling (thread-safe); in-progress invocations finish."""
        self._stop.set()

    def run(self) -> RunSummary:
        """Poll until drained, the deadline, or ``stop``; return what happened.

        Raises
        ------
        ValueError
            The configuration does not fit the queue (FIFO limits, visibility timeout below the function
            timeout), as Lambda's CreateEventSourceMapping would refuse it.
        """
        queue = self._describe_queue()
        self._validate_against(queue)
        self._stop.clear()
        self._counters = _Counters()
        self._fatal = None
        started = time.monotonic()
        deadline = started + self._max_seconds
        logger.info(
            "event source runner started: queue=%s batch_size=%d window=%.1fs concurrency=%d",
            queue.arn,
            self._batch_size,
            self._batching_window_s,
            self._max_concurrency,
        )
        pollers = [
            threading.Thread(target=self._poll_loop, args=(queue, deadline), name=f"sqs-poller-{index}", daemon=True)
            for index in range(self._max_concurrency)
        ]
        for poller in pollers:
            poller.start()
        try:
            reason = self._watch(queue, deadline)
        finally:
            # Whatever ended the watch (even an exception), the pollers must not outlive run().
            self._stop.set()
            for poller in pollers:
                poller.join()
        if self._fatal is not None:
            raise RuntimeError("an event source poller failed") from self._fatal
        summary = self._summary(reason, time.monotonic() - started)
        logger.info(
            "event source runner stopped (%s): %d invocations, %d received, %d deleted, %d failed batches",
            summary.stopped_reason,
            summary.invocations,
            summary.messages_received,
            summary.messages_deleted,
            summary.batches_failed,
        )
        return summary

    # --- setup --------------------------------------------------------------------------------------------

    def _describe_queue(self) -> _Queue:
        attributes = self._client.get_queue_attributes(
            QueueUrl=self._queue_url, AttributeNames=["QueueArn", "VisibilityTimeout", "FifoQueue"]
        )["Attributes"]
        arn = attributes["QueueArn"]
        # arn:aws:sqs:<region>:<account>:<name>
        _arn, _partition, _service, region, account_id, _name = arn.split(":", 5)
        return _Queue(
            url=self._queue_url,
            arn=arn,
            region=region,
            account_id=account_id,
            fifo=attributes.get("FifoQueue") == "true",
            visibility_timeout_s=int(attributes["VisibilityTimeout"]),
        )

    def _validate_against(self, queue: _Queue) -> None:
        if queue.fifo and self._batch_size > _BATCH_SIZE_MAX_FIFO:
            raise ValueError(f"a FIFO queue takes a batch_size of at most {_BATCH_SIZE_MAX_FIFO}")
        if queue.fifo and self._batching_window_s > 0:
            raise ValueError("a FIFO queue takes no batching window (Lambda supports it for standard queues only)")
        # Lambda refuses an event source whose queue would make a message visible again while the function
        # still works on it: "Queue visibility timeout ... is less than Function timeout".
        if queue.visibility_timeout_s < self._function_timeout_s:
            raise ValueError(
                f"the queue's visibility timeout ({queue.visibility_timeout_s} s) is less than the function "
                f"timeout ({self._function_timeout_s} s); AWS recommends at least 6x"
            )

    # --- the watcher (caller's thread) ----------------------------------------------------------------------

    def _watch(self, queue: _Queue, deadline: float) -> StopReason:
        stable_checks = 0
        self._receives_at_last_check = 0  # the counters start at zero with each run
        while True:
            if self._stop.wait(self._drain_check_interval_s):
                return "stopped"
            if time.monotonic() >= deadline:
                return "deadline"
            if not self._stop_when_drained:
                continue
            if self._drained(queue):
                stable_checks += 1
                if stable_checks >= _DRAIN_CHECKS_REQUIRED:
                    return "drained"
            else:
                stable_checks = 0

    def _drained(self, queue: _Queue) -> bool:
        with self._lock:
            holding = self._counters.holding
            receives = self._counters.receives_with_messages
        busy = holding > 0 or receives != self._receives_at_last_check
        self._receives_at_last_check = receives
        if busy:
            # A poller holds messages, or received some since the last check: not drained, and no need to ask
            # SQS. While a backlog drains this skips nearly every GetQueueAttributes (on moto each one is a scan
            # of the whole queue, run on the same GIL as the handler); at the end it delays the stop by at most
            # one check interval, and never makes it early.
            return False
        attributes = self._client.get_queue_attributes(
            QueueUrl=queue.url,
            AttributeNames=_DRAIN_CHECK_ATTRIBUTES,
        )["Attributes"]
        with self._lock:
            holding = self._counters.holding
        # A poller holds messages from ReceiveMessage until their DeleteMessageBatch; SQS counts them as not
        # visible over the same span, so the two views agree except for the instants in between.
        return holding == 0 and all(int(attributes.get(name, "0")) == 0 for name in _QUEUE_DEPTH_ATTRIBUTES)

    # --- the pollers (one thread each) ----------------------------------------------------------------------

    def _poll_loop(self, queue: _Queue, deadline: float) -> None:
        log_stream_name = _log_stream_name()
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                messages = self._gather(queue, deadline)
                if not messages:
                    continue
                try:
                    self._invoke_and_settle(queue, messages, log_stream_name)
                finally:
                    with self._lock:
                        self._counters.holding -= 1
        except BaseException as error:  # a bug in the runner, not in the handler: stop everything, re-raise
            logger.exception("event source poller failed")
            self._fatal = error
            self._stop.set()

    def _gather(self, queue: _Queue, deadline: float) -> list[MessageTypeDef]:
        """Receive up to batch_size messages: one call, or several within the batching window."""
        messages: list[MessageTypeDef] = []
        payload_bytes = 0
        window_end: float | None = None
        while True:
            if window_end is None:
                # Waiting for a first message: long poll, but not past the deadline.
                wait_s = min(self._wait_time_s, max(0, int(deadline - time.monotonic())))
            else:
                window_left = window_end - time.monotonic()
                if window_left <= 0:
                    break
                wait_s = min(self._wait_time_s, int(window_left))  # WaitTimeSeconds is whole seconds
            received = self._receive(queue, min(_RECEIVE_MAX, self._batch_size - len(messages)), wait_s)
            if received:
                with self._lock:
                    self._counters.receives_with_messages += 1
                    if window_end is None:
                        self._counters.holding += 1
                if window_end is None:
                    window_end = time.monotonic() + self._batching_window_s
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
                len(messages) >= self._batch_size
                or self._batching_window_s <= 0
                or payload_bytes >= _PAYLOAD_SOFT_LIMIT_BYTES
                or self._stop.is_set()
            ):
                break
        return messages

    def _receive(self, queue: _Queue, count: int, wait_s: int) -> list[MessageTypeDef]:
        try:
            response = self._client.receive_message(
                QueueUrl=queue.url,
                MaxNumberOfMessages=count,
                WaitTimeSeconds=wait_s,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        except (BotoCoreError, ClientError) as error:
            logger.warning("ReceiveMessage failed: %s", type(error).__name__)
            with self._lock:
                self._counters.poll_errors += 1
            self._stop.wait(_POLL_ERROR_BACKOFF_S)
            return []
        return response.get("Messages", [])

    def _invoke_and_settle(self, queue: _Queue, messages: list[MessageTypeDef], log_stream_name: str) -> None:
        event = build_event(messages, queue_arn=queue.arn, region=queue.region)
        records = list(event["Records"])  # the handler may mutate the event; keep our own view
        message_ids = [record["messageId"] for record in records]
        context = LambdaContext(
            function_name=self._function_name,
            region=queue.region,
            account_id=queue.account_id,
            timeout_s=self._function_timeout_s,
            memory_limit_in_mb=self._memory_limit_in_mb,
            log_stream_name=log_stream_name,
        )
        with self._lock:
            self._counters.invocations += 1
            self._counters.messages_received += len(records)
            self._counters.running += 1
            self._counters.peak_concurrency = max(self._counters.peak_concurrency, self._counters.running)
        started = time.monotonic()
        try:
            verdict = self._call_handler(event, context, message_ids)
        finally:
            with self._lock:
                self._counters.running -= 1
        elapsed = time.monotonic() - started
        if verdict is not None and elapsed > self._function_timeout_s:
            # Lambda would have stopped the function at its timeout, so whatever it returned never arrived.
            logger.warning("invocation %s timed out after %.1f s", context.aws_request_id, elapsed)
            with self._lock:
                self._counters.timeouts += 1
            verdict = None
        if verdict is None:
            with self._lock:
                self._counters.batches_failed += 1
            logger.info("invocation %s: whole batch of %d failed", context.aws_request_id, len(records))
            return
        failed_ids = verdict.failed_ids
        if queue.fifo:
            violations = fifo_order_violations(records, failed_ids)
            if violations:
                logger.warning(
                    "invocation %s acknowledged %d FIFO message(s) after a failure in their group: %s",
                    context.aws_request_id,
                    len(violations),
                    ", ".join(violations),
                )
                with self._lock:
                    self._counters.fifo_order_violations += len(violations)
        deleted = self._delete(queue, [message for message in messages if message["MessageId"] not in failed_ids])
        with self._lock:
            self._counters.messages_reported_failed += len(failed_ids)
            self._counters.messages_deleted += deleted
        logger.info(
            "invocation %s: %d records, %d reported failed, %d deleted",
            context.aws_request_id,
            len(records),
            len(failed_ids),
            deleted,
        )

    def _call_handler(self, event: SqsEvent, context: LambdaContext, message_ids: list[str]) -> ResponseVerdict | None:
        """Invoke; None means the whole batch failed (exception or invalid response)."""
        try:
            response = self._handler(event, context)
        except Exception as error:  # the function's error: Lambda fails the batch, the poller carries on
            logger.warning("invocation %s raised %s", context.aws_request_id, type(error).__name__)
            logger.debug("invocation %s traceback", context.aws_request_id, exc_info=True)
            with self._lock:
                self._counters.handler_exceptions += 1
            return None
        try:
            # The runtime serialises the response to JSON; one that cannot be is an invocation error.
            json.dumps(response)
        except (TypeError, ValueError):
            verdict = ResponseVerdict(failed_ids=frozenset(message_ids), invalid_reason="response is not JSON")
        else:
            verdict = interpret_response(response, message_ids)
        if verdict.invalid_reason is not None:
            logger.warning(
                "invocation %s returned an invalid response: %s", context.aws_request_id, verdict.invalid_reason
            )
            with self._lock:
                self._counters.invalid_responses += 1
            return None
        return verdict

    def _delete(self, queue: _Queue, messages: list[MessageTypeDef]) -> int:
        deleted = 0
        for chunk in _chunks(messages, _DELETE_MAX):
            # Entry ids only need to be unique within the call; the index also tolerates a message received
            # twice in one gathered batch (same MessageId, two receipt handles).
            entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(chunk)
            ]
            try:
                response = self._client.delete_message_batch(QueueUrl=queue.url, Entries=entries)
            except (BotoCoreError, ClientError) as error:
                logger.warning("DeleteMessageBatch failed: %s", type(error).__name__)
                with self._lock:
                    self._counters.delete_errors += len(chunk)
                continue
            deleted += len(response.get("Successful", []))
            failures = response.get("Failed", [])
            for failure in failures:
                logger.warning(
                    "could not delete message %s: %s", chunk[int(failure["Id"])]["MessageId"], failure["Code"]
                )
            if failures:
                with self._lock:
                    self._counters.delete_errors += len(failures)
        return deleted

    def _summary(self, reason: StopReason, wall_time_s: float) -> RunSummary:
        with self._lock:
            counters = dataclasses.replace(self._counters)
        return RunSummary(
            invocations=counters.invocations,
            messages_received=counters.messages_received,
            messages_deleted=counters.messages_deleted,
            messages_reported_failed=counters.messages_reported_failed,
            batches_failed=counters.batches_failed,
            handler_exceptions=counters.handler_exceptions,
            invalid_responses=counters.invalid_responses,
            timeouts=counters.timeouts,
            fifo_order_violations=counters.fifo_order_violations,
            delete_errors=counters.delete_errors,
            poll_errors=counters.poll_errors,
            peak_concurrency=counters.peak_concurrency,
            stopped_reason=reason,
            wall_time_s=round(wall_time_s, 3),
        )


def run_event_source(
    *,
    queue_url: str,
    handler: Handler,
    sqs_client: SQSClient | None = None,
    endpoint_url: str | None = None,
    batch_size: int = 10,
    batching_window_s: float = 0.0,
    max_concurrency: int = 2,
    function_timeout_s: float = 30.0,
    wait_time_s: int = 1,
    max_seconds: float = 300.0,
    stop_when_drained: bool = True,
) -> RunSummary:
    """Run an ``EventSourceRunner`` to completion; see its parameters."""
    runner = EventSourceRunner(
        queue_url=queue_url,
        handler=handler,
        sqs_client=sqs_client,
        endpoint_url=endpoint_url,
        batch_size=batch_size,
        batching_window_s=batching_window_s,
        max_concurrency=max_concurrency,
        function_timeout_s=function_timeout_s,
        wait_time_s=wait_time_s,
        max_seconds=max_seconds,
        stop_when_drained=stop_when_drained,
    )
    return runner.run()


def _default_client(endpoint_url: str | None, max_concurrency: int) -> SQSClient:
    # One pooled connection per poller plus one for the drain checks, or long polls wait for each other.
    pool = max(10, max_concurrency + 1)
    if endpoint_url is not None:
        return make_sqs_client(endpoint_url, max_pool_connections=pool)
    client: SQSClient = boto3.client("sqs", config=Config(max_pool_connections=pool))
    return client


def _chunks(items: list[MessageTypeDef], size: int) -> Iterator[list[MessageTypeDef]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- Standalone -------------------------------------------------------------------------------------------


def _key_value(text: str) -> tuple[str, str]:
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the real handler against a queue; print the summary as JSON on stdout."""
    parser = argparse.ArgumentParser(prog="python -m local.runner", description=__doc__.splitlines()[0])
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--endpoint-url", help="moto's server (default: boto3's chain, AWS_ENDPOINT_URL_SQS)")
    parser.add_argument("--handler", default="ingest.handler.lambda_handler", help="module.attribute under lambdas/")
    parser.add_argument("--env", type=_key_value, action="append", default=[], help="KEY=VALUE (repeatable)")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--batching-window", type=float, default=0.0, help="seconds")
    parser.add_argument("--max-concurrency", type=int, default=2)
    parser.add_argument("--function-timeout", type=float, default=30.0, help="seconds")
    parser.add_argument("--wait-time", type=int, default=1, help="long-poll seconds (0..20)")
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--keep-running", action="store_true", help="do not stop when drained (until deadline)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")

    handler = load_handler(args.handler, dict(args.env))
    summary = run_event_source(
        queue_url=args.queue_url,
        handler=handler,
        endpoint_url=args.endpoint_url,
        batch_size=args.batch_size,
        batching_window_s=args.batching_window,
        max_concurrency=args.max_concurrency,
        function_timeout_s=args.function_timeout,
        wait_time_s=args.wait_time,
        max_seconds=args.max_seconds,
        stop_when_drained=not args.keep_running,
    )
    print(json.dumps(summary.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
