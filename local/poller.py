"""One poller of the event source mapping: an execution environment kept busy, as Lambda's pollers keep it.

Lambda's SQS event source mapping runs several pollers, each invoking the function one batch at a time
(https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html). The pollers are not the function's execution
environments: they receive batches ahead, invoke an environment as soon as it is free, and delete the acknowledged
messages after the invocation returned, while the environment runs its next batch. So here, per environment:

- **Gathering** (``local.gathering``) runs in a thread of its own, at most one batch ahead of the invocation: the
  next batch is gathered while the current one is invoked, and no further, because a batch held ahead is in flight
  with its visibility timeout running. It gathers ahead only when the queue's visibility timeout is at least twice
  the function timeout: a batch gathered ahead waits for at most one invocation and then runs for at most another,
  so its messages stay hidden until it is settled (a deployment's is six function timeouts plus the window, as
  Lambda advises). Below that it gathers after each invocation, as the runner always used to.
- **Invoking** happens in the poller's thread, with Lambda's event and a context counting down from the function
  timeout. A handler that runs past its timeout is not stopped (it shares the process): its answer is thrown away,
  and its batch fails.
- **Settling** (``local.settlement.Settler``): the acknowledged messages are deleted in a thread of its own, so
  the next invocation does not wait for the deletes.

On a FIFO queue gathering ahead keeps every group's order: SQS serves no message of a group while an earlier one is
in flight (received and neither deleted nor visible again), so a batch gathered ahead holds only other groups, and
a group's next messages come only after the batch before them is settled. Batches are invoked in the order they
were gathered.

Once ``stop`` is set or the deadline passes no invocation starts. A batch gathered but not invoked is returned to
the queue at once (ChangeMessageVisibilityBatch to 0) rather than left in flight until its visibility timeout: a
stopped run leaves no message hidden (the spill reads the queue right after pausing the mapping), and the next run
gets it at once. Lambda's documentation does not say what a poller does with such a batch; a receive that is never
invoked counts towards ``maxReceiveCount`` there too (a throttled invocation's does), and here.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from local.gathering import RECEIVE_MAX, Batch, Gatherer, PollSettings, QueueInfo, describe_queue
from local.lambda_runtime import Handler, LambdaContext, log_stream_name
from local.run_summary import RunCounters
from local.settlement import Invocation, ResponseVerdict, Settler, judge_response, return_to_queue
from local.sqs_event import SqsEvent, build_event

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

__all__ = ["RECEIVE_MAX", "PollSettings", "Poller", "QueueInfo", "describe_queue", "gathers_ahead"]

logger = logging.getLogger(__name__)


def gathers_ahead(settings: PollSettings, queue: QueueInfo) -> bool:
    """Whether a poller gathers its next batch during an invocation (see the module's docstring)."""
    return queue.visibility_timeout_s >= 2 * settings.function_timeout_s


class Poller:
    """Invokes one execution environment's handler, one batch at a time, until ``stop`` is set or the deadline.

    Parameters
    ----------
    client
        The SQS client (shared by the pollers: its pool needs two connections per poller, to gather and delete).
    queue
        The queue polled.
    handler
        The function's handler.
    settings
        Batching, polling and function settings.
    counters
        The run's counts, shared with the other pollers and the watcher.
    stop
        Set to stop: an invocation in progress finishes and is settled; a batch gathered but not invoked is
        returned to the queue.
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
        self._gatherer = Gatherer(client=client, queue=queue, settings=settings, counters=counters, stop=stop)
        self._gather_ahead = gathers_ahead(settings, queue)
        # One per poller, as one per execution environment.
        self._log_stream_name = log_stream_name()

    def run(self, deadline: float) -> None:
        """Invoke until stopped or ``deadline`` (``time.monotonic()``); return once every batch is settled."""
        name = threading.current_thread().name
        settler = Settler(
            client=self._client,
            queue_url=self._queue.url,
            fifo=self._queue.fifo,
            counters=self._counters,
            name=f"{name}-settler",
        )
        # One thread gathers: one batch at a time, never more than one ahead of the invocation.
        gathering = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-gatherer")
        pending: Future[Batch] | None = None
        try:
            pending = gathering.submit(self._gatherer.next_batch, deadline)
            gathered_ahead = False  # whether the batch ``pending`` gathers was started during an invocation
            while True:
                batch = pending.result()
                pending = None
                if not batch.messages:
                    return  # stopped, or the deadline passed
                if self._stop.is_set() or time.monotonic() >= deadline:
                    self._return(batch, "the run stopped")
                    return
                if gathered_ahead and self._visibility_may_end_during_invocation(batch):
                    self._return(batch, "its visibility timeout could end during its invocation")
                else:
                    if self._gather_ahead:
                        pending = gathering.submit(self._gatherer.next_batch, deadline)
                    settler.submit(self._invoke(batch.messages))
                gathered_ahead = pending is not None
                if pending is None:
                    pending = gathering.submit(self._gatherer.next_batch, deadline)
        except BaseException:
            # A bug in the runner: the gather under way must not go on until the deadline.
            self._stop.set()
            raise
        finally:
            if pending is not None:
                leftover = pending.result()
                if leftover.messages:
                    self._return(leftover, "the run stopped")
            gathering.shutdown()
            settler.close()

    def _visibility_may_end_during_invocation(self, batch: Batch) -> bool:
        """Whether a batch gathered ahead waited so long (behind an invocation that overran the function timeout)
        that its first messages could become visible again, and be received twice, before its invocation ends."""
        waited_s = time.monotonic() - batch.first_received_at
        return waited_s + self._settings.function_timeout_s > self._queue.visibility_timeout_s

    def _return(self, batch: Batch, why: str) -> None:
        """Return a batch that will not be invoked to the queue; it is then released."""
        try:
            outcome = return_to_queue(self._client, self._queue.url, batch.messages)
            logger.info("returned %d gathered message(s) to the queue: %s", outcome.returned, why)
            self._counters.add(messages_returned=outcome.returned, poll_errors=outcome.errors)
        finally:
            self._counters.released()

    # --- invoking ----------------------------------------------------------------------------------------------

    def _invoke(self, messages: list[MessageTypeDef]) -> Invocation:
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
        return Invocation(messages=messages, records=records, request_id=context.aws_request_id, verdict=verdict)

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
