"""A local event-source runner: poll an SQS queue the way Lambda's SQS event source mapping does.

On AWS, the Lambda service polls the queue, invokes the function with a batch, and deletes what the function
acknowledged. Locally, this runner does the same against moto's SQS server, so the real handler runs
unchanged. What it reproduces, per https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html and
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html:

- **Polling** (``local.poller``): long-polling ReceiveMessage, at most 10 messages per call; a batch size above 10
  is gathered over several calls within the batching window. All system attributes and all message attributes.
- **The event** (``local.sqs_event``): the exact Lambda SQS event (``Records`` of ``messageId``,
  ``receiptHandle``, ``body``, ``attributes``, ``messageAttributes``, ``md5OfBody``, ``eventSource``,
  ``eventSourceARN``, ``awsRegion``).
- **The invocation** (``local.lambda_runtime``): the handler cold-started with the function's environment, called
  with a Lambda-like context that counts down from the function timeout.
- **ReportBatchItemFailures** (``local.settlement``): messages not listed in ``batchItemFailures`` are deleted;
  listed ones stay and reappear after the queue's visibility timeout. An exception, a timeout or an invalid
  response fails the whole batch (nothing deleted). Lambda applies the same rule to FIFO queues: keeping a group's
  order is the function's job ("stop processing messages after the first failure and return all failed and
  unprocessed messages"). The runner counts acknowledgements that break a group's order, so tests can catch them.
- **Redrive**: left to the queue. Lambda never moves messages to the DLQ itself; SQS does, on a receive
  after ``maxReceiveCount`` receives (moto implements this on ReceiveMessage too).
- **Concurrency**: ``max_concurrency`` pollers, each running one invocation at a time. Given one handler per
  poller (each its own cold start, ``load_handler``), every poller is an execution environment of its own, with
  its own module state (the ingest handler's pacer), as on Lambda; given one handler, the pollers share it.
- **Keeping environments busy** (``local.poller``): as Lambda's pollers, which are apart from the execution
  environments, each poller gathers its next batch while the current one is invoked (one batch ahead, on a queue
  whose visibility timeout is at least two function timeouts) and deletes in a thread of its own, so an
  environment starts its next invocation as soon as the last one returned. When the run stops, a batch gathered
  but not invoked is returned to the queue at once.

What it does not reproduce: the poller fleet's scaling and back-off, a per-invocation process (the handler
runs in this process, in the poller's thread, and a timed-out handler is not killed: it finishes, and its
batch then counts as failed), and Lambda's own retries of throttled invocations.

Standalone::

    python -m local.runner --endpoint-url http://127.0.0.1:9324 --queue-url <url> \\
        --handler ingest.handler.lambda_handler --env DEAD_LETTER_QUEUE_URL=<url> --max-concurrency 2
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from local.gathering import RECEIVE_MAX, PollSettings, QueueInfo, describe_queue
from local.lambda_runtime import Handler, load_handler
from local.poller import Poller
from local.run_summary import RunCounters, RunSummary, StopReason
from local.sqs_server import make_sqs_client

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

__all__ = ["EventSourceRunner", "main", "run_event_source"]

logger = logging.getLogger(__name__)

# Event source mapping limits (https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html):
# BatchSize 1..10000 for standard queues and 1..10 for FIFO; MaximumBatchingWindowInSeconds 0..300, standard
# queues only, and at least 1 when BatchSize > 10.
_BATCH_SIZE_MAX_STANDARD = 10_000
_BATCH_SIZE_MAX_FIFO = 10
_BATCHING_WINDOW_MAX_S = 300
# Long polling waits at most 20 s per call.
_WAIT_TIME_MAX_S = 20
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


class EventSourceRunner:
    """Poll one SQS queue and invoke a handler with Lambda SQS events, until drained or a deadline.

    Parameters
    ----------
    queue_url
        The queue to poll.
    handler
        ``(event, context) -> response``; any callable (``load_handler`` gives the real one). A sequence of them:
        one per execution environment, poller ``i`` invoking ``handler[i % len(handler)]``.
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
        The deadline: stop polling after this long (invocations in progress finish and are settled; a batch
        gathered but not invoked is returned to the queue).
    stop_when_drained
        Stop once the queue has no visible, in-flight or delayed message and no poller holds a batch.
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
        handler: Handler | Sequence[Handler],
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
        _check_settings(
            batch_size=batch_size,
            batching_window_s=batching_window_s,
            max_concurrency=max_concurrency,
            function_timeout_s=function_timeout_s,
            wait_time_s=wait_time_s,
            max_seconds=max_seconds,
        )
        self._queue_url = queue_url
        self._handlers: tuple[Handler, ...] = tuple(handler) if isinstance(handler, Sequence) else (handler,)
        if not self._handlers:
            raise ValueError("at least one handler is needed")
        self._client = sqs_client if sqs_client is not None else _default_client(endpoint_url, max_concurrency)
        self._settings = PollSettings(
            batch_size=batch_size,
            batching_window_s=batching_window_s,
            wait_time_s=wait_time_s,
            function_timeout_s=function_timeout_s,
            function_name=function_name,
            memory_limit_in_mb=memory_limit_in_mb,
        )
        self._max_concurrency = max_concurrency
        self._max_seconds = max_seconds
        self._stop_when_drained = stop_when_drained
        self._drain_check_interval_s = drain_check_interval_s
        self._stop = threading.Event()
        self._counters = RunCounters()
        self._fatal: BaseException | None = None

    def stop(self) -> None:
        """Ask a running ``run`` to stop polling (thread-safe); in-progress invocations finish and are settled, and a
        batch gathered but not invoked is returned to the queue."""
        self._stop.set()

    def run(self) -> RunSummary:
        """Poll until drained, the deadline, or ``stop``; return what happened.

        Raises
        ------
        ValueError
            The configuration does not fit the queue (FIFO limits, visibility timeout below the function
            timeout), as Lambda's CreateEventSourceMapping would refuse it.
        """
        queue = describe_queue(self._client, self._queue_url)
        _check_fits_queue(self._settings, queue)
        self._stop.clear()
        self._counters = RunCounters()
        self._fatal = None
        started = time.monotonic()
        deadline = started + self._max_seconds
        logger.info(
            "event source runner started: queue=%s batch_size=%d window=%.1fs concurrency=%d",
            queue.arn,
            self._settings.batch_size,
            self._settings.batching_window_s,
            self._max_concurrency,
        )
        pollers = [
            threading.Thread(
                target=self._poll,
                args=(queue, deadline, self._handlers[index % len(self._handlers)]),
                name=f"sqs-poller-{index}",
                daemon=True,
            )
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
        summary = self._counters.summary(reason, time.monotonic() - started)
        logger.info(
            "event source runner stopped (%s): %d invocations, %d received, %d deleted, %d failed batches",
            summary.stopped_reason,
            summary.invocations,
            summary.messages_received,
            summary.messages_deleted,
            summary.batches_failed,
        )
        return summary

    # --- the pollers (one thread each) ----------------------------------------------------------------------

    def _poll(self, queue: QueueInfo, deadline: float, handler: Handler) -> None:
        poller = Poller(
            client=self._client,
            queue=queue,
            handler=handler,
            settings=self._settings,
            counters=self._counters,
            stop=self._stop,
        )
        try:
            poller.run(deadline)
        except BaseException as error:  # a bug in the runner, not in the handler: stop everything, re-raise
            logger.exception("event source poller failed")
            self._fatal = error
            self._stop.set()

    # --- the watcher (caller's thread) ----------------------------------------------------------------------

    def _watch(self, queue: QueueInfo, deadline: float) -> StopReason:
        check = _DrainCheck(self._client, queue, self._counters)
        stable_checks = 0
        while True:
            if self._stop.wait(self._drain_check_interval_s):
                return "stopped"
            if time.monotonic() >= deadline:
                return "deadline"
            if not self._stop_when_drained:
                continue
            if check.drained():
                stable_checks += 1
                if stable_checks >= _DRAIN_CHECKS_REQUIRED:
                    return "drained"
            else:
                stable_checks = 0


class _DrainCheck:
    """Whether the queue is drained: no visible, in-flight or delayed message, and no batch held by a poller."""

    def __init__(self, client: SQSClient, queue: QueueInfo, counters: RunCounters) -> None:
        self._client = client
        self._queue = queue
        self._counters = counters
        self._receives_at_last_check = 0  # the counters start at zero with each run

    def drained(self) -> bool:
        holding, receives = self._counters.activity()
        busy = holding > 0 or receives != self._receives_at_last_check
        self._receives_at_last_check = receives
        if busy:
            # A batch is held, or messages were received since the last check: not drained, and no need to ask
            # SQS. While a backlog drains this skips nearly every GetQueueAttributes (on moto each one is a scan
            # of the whole queue, run on the same GIL as the handler); at the end it delays the stop by at most
            # one check interval, and never makes it early.
            return False
        attributes = self._client.get_queue_attributes(
            QueueUrl=self._queue.url,
            AttributeNames=_DRAIN_CHECK_ATTRIBUTES,
        )["Attributes"]
        holding, _receives = self._counters.activity()
        # A batch is held from its first ReceiveMessage until its DeleteMessageBatch (or its return to the queue),
        # gathered ahead or not; SQS counts its messages as not visible over the same span, so the two views agree
        # except for the instants in between.
        return holding == 0 and all(int(attributes.get(name, "0")) == 0 for name in _QUEUE_DEPTH_ATTRIBUTES)


def _check_settings(
    *,
    batch_size: int,
    batching_window_s: float,
    max_concurrency: int,
    function_timeout_s: float,
    wait_time_s: int,
    max_seconds: float,
) -> None:
    """Refuse what CreateEventSourceMapping (or the function's configuration) would refuse."""
    if not 1 <= batch_size <= _BATCH_SIZE_MAX_STANDARD:
        raise ValueError(f"batch_size must be within 1..{_BATCH_SIZE_MAX_STANDARD}, got {batch_size}")
    if not 0 <= batching_window_s <= _BATCHING_WINDOW_MAX_S:
        raise ValueError(f"batching_window_s must be within 0..{_BATCHING_WINDOW_MAX_S}, got {batching_window_s}")
    if batch_size > RECEIVE_MAX and batching_window_s < 1:
        raise ValueError("a batch_size above 10 needs a batching_window_s of at least 1 s (as in Lambda)")
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
    if function_timeout_s <= 0:
        raise ValueError(f"function_timeout_s must be positive, got {function_timeout_s}")
    if not 0 <= wait_time_s <= _WAIT_TIME_MAX_S:
        raise ValueError(f"wait_time_s must be within 0..{_WAIT_TIME_MAX_S}, got {wait_time_s}")
    if max_seconds <= 0:
        raise ValueError(f"max_seconds must be positive, got {max_seconds}")


def _check_fits_queue(settings: PollSettings, queue: QueueInfo) -> None:
    """Refuse settings the queue does not take, as CreateEventSourceMapping would."""
    if queue.fifo and settings.batch_size > _BATCH_SIZE_MAX_FIFO:
        raise ValueError(f"a FIFO queue takes a batch_size of at most {_BATCH_SIZE_MAX_FIFO}")
    if queue.fifo and settings.batching_window_s > 0:
        raise ValueError("a FIFO queue takes no batching window (Lambda supports it for standard queues only)")
    # Lambda refuses an event source whose queue would make a message visible again while the function
    # still works on it: "Queue visibility timeout ... is less than Function timeout".
    if queue.visibility_timeout_s < settings.function_timeout_s:
        raise ValueError(
            f"the queue's visibility timeout ({queue.visibility_timeout_s} s) is less than the function "
            f"timeout ({settings.function_timeout_s} s); AWS recommends at least 6x"
        )


def run_event_source(
    *,
    queue_url: str,
    handler: Handler | Sequence[Handler],
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
    # Two pooled connections per poller (its gathering and its deletes run at once) plus one for the drain checks,
    # or long polls wait for each other.
    pool = max(10, 2 * max_concurrency + 1)
    if endpoint_url is not None:
        return make_sqs_client(endpoint_url, max_pool_connections=pool)
    client: SQSClient = boto3.client("sqs", config=Config(max_pool_connections=pool))
    return client


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
