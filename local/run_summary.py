"""The event source runner's report: counts kept while it runs, and the summary it returns."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Literal

__all__ = ["RunCounters", "RunSummary", "StopReason"]

StopReason = Literal["drained", "deadline", "stopped"]


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
    messages_returned
        Messages of a batch gathered ahead but never invoked (the run stopped, or the invocation before it ran so
        long that their visibility timeout could end during their own), made visible again at once; not counted
        in ``messages_received``.
    poll_errors
        SQS calls of the pollers that failed (network, server), and messages SQS refused to make visible again.
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
    messages_returned: int
    poll_errors: int
    peak_concurrency: int
    stopped_reason: StopReason
    wall_time_s: float

    def to_dict(self) -> dict[str, object]:
        """The summary as a JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclass
class _Counts:
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
    messages_returned: int = 0
    poll_errors: int = 0
    peak_concurrency: int = 0
    # Batches held, from their first receive until settled or returned (being gathered, gathered ahead, invoked,
    # or awaiting their deletes; a poller holds several at once): part of "drained".
    holding: int = 0
    # ReceiveMessage calls that returned messages: activity since the last drain check means "not drained yet".
    receives_with_messages: int = 0
    # Invocations in progress, for peak_concurrency.
    running: int = 0


# The counts a caller may add to; the others follow invocations and receives (the methods below).
_ADDABLE = frozenset(
    {
        "batches_failed",
        "handler_exceptions",
        "invalid_responses",
        "timeouts",
        "fifo_order_violations",
        "messages_reported_failed",
        "messages_deleted",
        "delete_errors",
        "messages_returned",
        "poll_errors",
    }
)


class RunCounters:
    """The run's counts, shared by the pollers and the watcher: every change and every read under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = _Counts()

    def add(self, **increments: int) -> None:
        """Add to outcome counts, e.g. ``add(messages_deleted=3, delete_errors=1)``."""
        unknown = set(increments) - _ADDABLE
        if unknown:
            raise ValueError(f"not an outcome count: {', '.join(sorted(unknown))}")
        with self._lock:
            for name, increment in increments.items():
                setattr(self._counts, name, getattr(self._counts, name) + increment)

    def received(self, *, first_of_batch: bool) -> None:
        """A ReceiveMessage returned messages; the first of a batch means one more batch is held."""
        with self._lock:
            self._counts.receives_with_messages += 1
            if first_of_batch:
                self._counts.holding += 1

    def released(self) -> None:
        """A batch is no longer held: settled after its invocation, or returned to the queue."""
        with self._lock:
            self._counts.holding -= 1

    def invocation_started(self, records: int) -> None:
        """An invocation with ``records`` records began."""
        with self._lock:
            self._counts.invocations += 1
            self._counts.messages_received += records
            self._counts.running += 1
            self._counts.peak_concurrency = max(self._counts.peak_concurrency, self._counts.running)

    def invocation_ended(self) -> None:
        """An invocation returned or raised."""
        with self._lock:
            self._counts.running -= 1

    def activity(self) -> tuple[int, int]:
        """Batches held, and receives that returned messages so far: what "drained" looks at."""
        with self._lock:
            return self._counts.holding, self._counts.receives_with_messages

    def summary(self, reason: StopReason, wall_time_s: float) -> RunSummary:
        """The counts as the run's summary."""
        with self._lock:
            counts = dataclasses.replace(self._counts)
        return RunSummary(
            invocations=counts.invocations,
            messages_received=counts.messages_received,
            messages_deleted=counts.messages_deleted,
            messages_reported_failed=counts.messages_reported_failed,
            batches_failed=counts.batches_failed,
            handler_exceptions=counts.handler_exceptions,
            invalid_responses=counts.invalid_responses,
            timeouts=counts.timeouts,
            fifo_order_violations=counts.fifo_order_violations,
            delete_errors=counts.delete_errors,
            messages_returned=counts.messages_returned,
            poll_errors=counts.poll_errors,
            peak_concurrency=counts.peak_concurrency,
            stopped_reason=reason,
            wall_time_s=round(wall_time_s, 3),
        )
