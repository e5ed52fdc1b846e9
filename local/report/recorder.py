"""What a local run records for its report: handler invocations and queue samples, each with its wall-clock time.

The emulator keeps its own call log (``EmulatorState.calls``) and the dead-letter queue keeps its letters; what
neither holds is when the function ran and how deep the queues were. :class:`TimelineRecorder` collects those two,
thread-safe, from whoever sees them:

- the handler, wrapped with :meth:`TimelineRecorder.observe` (so the event-source runner needs no change): each
  call is one Lambda invocation, and calls in progress at once are the function's concurrent executions;
- :class:`QueueSampler`, a thread that asks SQS for the queues' depths every ``interval_s``.

Times are epoch seconds (``time.time``), the clock the emulator stamps its call log with.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Protocol

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

logger = logging.getLogger(__name__)

# SentTimestamp is an SQS system attribute in epoch milliseconds; the Lambda SQS event carries it as a string.
_SENT_TIMESTAMP: Final = "SentTimestamp"
_MS_PER_S: Final = 1000.0


class Handler(Protocol):
    """A Lambda handler: ``(event, context) -> response``."""

    def __call__(self, event: Any, context: Any, /) -> Any: ...


@dataclass(frozen=True, slots=True)
class InvocationSpan:
    """One handler invocation.

    Attributes
    ----------
    started_at, ended_at
        Epoch seconds; ``ended_at`` is ``None`` while it runs (or if it never returned).
    messages
        Records in the invocation's event.
    oldest_sent_at
        The earliest ``SentTimestamp`` among them, in epoch seconds: how old the oldest message was when a poller
        handed it to the function. ``None`` when the event carried no timestamp.
    """

    started_at: float
    ended_at: float | None
    messages: int
    oldest_sent_at: float | None


@dataclass(frozen=True, slots=True)
class QueueSample:
    """The queues at one instant, as GetQueueAttributes answers.

    Attributes
    ----------
    at
        Epoch seconds.
    visible
        ApproximateNumberOfMessages of the ingest queue: waiting to be received.
    in_flight
        ApproximateNumberOfMessagesNotVisible: received, not yet deleted (being processed, or waiting out the
        visibility timeout before a redelivery).
    delayed
        ApproximateNumberOfMessagesDelayed.
    dead_letters
        Visible plus in-flight messages of the dead-letter queue; ``None`` when it was not asked.
    """

    at: float
    visible: int
    in_flight: int
    delayed: int = 0
    dead_letters: int | None = None


@dataclass(frozen=True, slots=True)
class Recording:
    """A copy of what a :class:`TimelineRecorder` holds: safe to keep while the run goes on."""

    started_at: float
    invocations: tuple[InvocationSpan, ...]
    queue_samples: tuple[QueueSample, ...]


def oldest_sent_at(records: Sequence[Mapping[str, Any]]) -> float | None:
    """Return the earliest ``attributes.SentTimestamp`` of Lambda SQS event records, in epoch seconds.

    Parameters
    ----------
    records
        The event's ``Records`` (each with ``attributes``, as the event source mapping builds them).

    Returns
    -------
    float or None
        ``None`` when no record carries a parseable timestamp.
    """
    stamps: list[float] = []
    for record in records:
        attributes = record.get("attributes")
        value = attributes.get(_SENT_TIMESTAMP) if isinstance(attributes, Mapping) else None
        try:
            stamps.append(int(str(value)) / _MS_PER_S)
        except (TypeError, ValueError):
            continue
    return min(stamps) if stamps else None


class TimelineRecorder:
    """Collects invocation spans and queue samples during a run; every method is thread-safe.

    Parameters
    ----------
    clock
        Epoch seconds; ``time.time`` unless a test pins it.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._started_at = clock()
        self._tokens = itertools.count()
        self._running: dict[int, InvocationSpan] = {}
        self._finished: list[InvocationSpan] = []
        self._samples: list[QueueSample] = []

    def invocation_started(self, *, messages: int, oldest_sent_at: float | None = None) -> int:
        """Note an invocation's start; return the token to hand to :meth:`invocation_ended`."""
        span = InvocationSpan(self._clock(), None, messages, oldest_sent_at)
        with self._lock:
            token = next(self._tokens)
            self._running[token] = span
        return token

    def invocation_ended(self, token: int) -> None:
        """Note the end of the invocation ``token`` names (returned, raised or timed out alike)."""
        ended_at = self._clock()
        with self._lock:
            span = self._running.pop(token)
            self._finished.append(
                InvocationSpan(span.started_at, ended_at, span.messages, span.oldest_sent_at),
            )

    def observe(self, handler: Handler) -> Handler:
        """Return ``handler`` wrapped so that each call is recorded as one invocation of the function."""

        def observed(event: Any, context: Any, /) -> Any:
            records = event.get("Records", []) if isinstance(event, Mapping) else []
            records = [record for record in records if isinstance(record, Mapping)]
            token = self.invocation_started(messages=len(records), oldest_sent_at=oldest_sent_at(records))
            try:
                return handler(event, context)
            finally:
                self.invocation_ended(token)

        return observed

    def sample_queue(
        self,
        *,
        visible: int,
        in_flight: int,
        delayed: int = 0,
        dead_letters: int | None = None,
        at: float | None = None,
    ) -> None:
        """Note the queues' depths (at ``at``, or now)."""
        sample = QueueSample(self._clock() if at is None else at, visible, in_flight, delayed, dead_letters)
        with self._lock:
            self._samples.append(sample)

    def recording(self) -> Recording:
        """Return what was recorded so far; invocations still running appear with ``ended_at`` ``None``."""
        with self._lock:
            spans = [*self._finished, *self._running.values()]
            samples = list(self._samples)
        return Recording(
            started_at=self._started_at,
            invocations=tuple(sorted(spans, key=lambda span: span.started_at)),
            queue_samples=tuple(sorted(samples, key=lambda sample: sample.at)),
        )


class QueueSampler:
    """A thread that samples the ingest queue (and the dead-letter queue) into a recorder every ``interval_s``.

    Use it as a context manager around the run: it takes a first sample on entry and a last one on exit.

    Parameters
    ----------
    recorder
        Where the samples go.
    sqs
        An SQS client (boto3 clients are safe to share between threads).
    queue_url, dead_letter_queue_url
        The queues to sample; the dead-letter queue is optional.
    interval_s
        Seconds between samples. On moto each GetQueueAttributes scans the whole queue under the GIL the handler
        also runs on, so a sample every half second costs the run little and still fills every one-second bucket.
    """

    def __init__(
        self,
        recorder: TimelineRecorder,
        sqs: SQSClient,
        *,
        queue_url: str,
        dead_letter_queue_url: str | None = None,
        interval_s: float = 0.5,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self._recorder = recorder
        self._sqs = sqs
        self._queue_url = queue_url
        self._dead_letter_queue_url = dead_letter_queue_url
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        """Take one sample now; an SQS error is logged and the sample skipped (a report must not end a run)."""
        try:
            # "All" rather than the three names: moto computes every attribute once for "All" but three times per
            # named attribute (see local/runner.py, _DRAIN_CHECK_ATTRIBUTES).
            queue = self._sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["All"])["Attributes"]
            dead_letters = None
            if self._dead_letter_queue_url is not None:
                dlq = self._sqs.get_queue_attributes(QueueUrl=self._dead_letter_queue_url, AttributeNames=["All"])
                attributes = dlq["Attributes"]
                dead_letters = _count(attributes, "ApproximateNumberOfMessages") + _count(
                    attributes, "ApproximateNumberOfMessagesNotVisible"
                )
        except (BotoCoreError, ClientError) as error:
            logger.warning("queue sample skipped: %s", type(error).__name__)
            return
        self._recorder.sample_queue(
            visible=_count(queue, "ApproximateNumberOfMessages"),
            in_flight=_count(queue, "ApproximateNumberOfMessagesNotVisible"),
            delayed=_count(queue, "ApproximateNumberOfMessagesDelayed"),
            dead_letters=dead_letters,
        )

    def start(self) -> None:
        """Take a first sample and start sampling in the background."""
        if self._thread is not None:
            raise RuntimeError("the sampler is already running")
        self._stop.clear()
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="queue-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling and take a last sample (the drained queue)."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        self.sample()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.sample()

    def __enter__(self) -> QueueSampler:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _count(attributes: Mapping[Any, str], name: str) -> int:
    try:
        return int(attributes.get(name, "0"))
    except ValueError:
        return 0
