"""The run as the CloudWatch dashboard would graph it: per-interval series built from what a local run recorded.

Three sources, each with wall-clock times (epoch seconds):

- the Personalize emulator's call log (``EmulatorState.calls()``): records accepted per API and calls by outcome;
- the dead-letter queue's letters: their ``ErrorCode`` attribute and ``SentTimestamp`` (when the handler sent
  them; a message moved by the queue's redrive policy keeps the time it was first published);
- a :class:`~local.report.recorder.Recording`: handler invocations and queue samples.

The dashboard's metrics and their local counterparts (stacks/monitoring/dashboard.py draws the real ones):

- *Records accepted by Personalize, per API* (RecordsAccepted): the ``records`` of every Put* call answered 200.
- *Records dead-lettered, per reason* (RecordsDeadLettered): dead letters per ``ErrorCode``.
- *Personalize calls* (ApiCalls, ThrottledCalls, ApiErrors): Put* calls by outcome, ok / throttled / 5xx / other.
- *Ingest queue* (ApproximateNumberOfMessagesVisible / NotVisible, the dead-letter queue's depth): the maximum of
  the samples in each interval, as the dashboard graphs the Maximum.
- *Age of the oldest message* (ApproximateAgeOfOldestMessage): SQS publishes it to CloudWatch only; neither
  GetQueueAttributes nor moto's server answers it. Here it is the age of the oldest message a poller handed to the
  function in the interval (the invocation's start minus the earliest SentTimestamp of its batch), which is the
  head of the backlog while the queue drains, and 0 in an interval where the queue was sampled empty.
- *Invocations* and *concurrent executions*: handler calls started in the interval, and the most in progress at
  once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

from contract import APIS, ERROR_CODE_ATTRIBUTE, ErrorCode
from local.report.recorder import InvocationSpan, QueueSample, Recording

# Call outcomes, in the order the report stacks them.
OK: Final = "ok"
THROTTLED: Final = "throttled"
SERVER_ERROR: Final = "5xx"
OTHER_ERROR: Final = "other error"
OUTCOMES: Final[tuple[str, ...]] = (OK, THROTTLED, SERVER_ERROR, OTHER_ERROR)
# Personalize's throttling code; the emulator answers it for quota and injected throttling alike.
THROTTLING_CODE: Final = "ThrottlingException"
# The dead-letter "code" of a message the queue's redrive policy moved: it carries no ErrorCode attribute.
MOVED_BY_REDRIVE_POLICY: Final = "moved by the redrive policy"
SENT_TIMESTAMP: Final = "SentTimestamp"
DEFAULT_INTERVAL_S: Final = 1.0


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead letter: when it reached the dead-letter queue (epoch seconds) and why."""

    at: float
    code: str


@dataclass(frozen=True)
class RunTimeline:
    """Per-interval series of one run; index ``i`` covers ``[started_at + i * interval_s, ... + interval_s)``.

    Counters (records, dead letters, calls, invocations) are sums over the interval; gauges (queue depths, the
    oldest message's age, concurrency) are the interval's maximum, ``None`` where nothing was sampled.

    Attributes
    ----------
    started_at
        Epoch seconds of the first interval's start.
    interval_s
        The interval's length in seconds.
    records_accepted
        API -> records Personalize accepted (every API of the contract, in its order).
    dead_letters
        Dead-letter code -> dead letters (every ErrorCode, then any other code seen).
    calls
        Outcome (:data:`OUTCOMES`) -> Put* calls.
    queue_visible, queue_in_flight
        The ingest queue's messages waiting and being processed.
    dead_letter_depth
        Messages in the dead-letter queue.
    oldest_message_age_s
        The age of the oldest message (see the module's docstring for how it is measured locally).
    invocations
        Handler invocations started.
    concurrency
        The most invocations in progress at once.
    """

    started_at: float
    interval_s: float
    records_accepted: Mapping[str, Sequence[int]]
    dead_letters: Mapping[str, Sequence[int]]
    calls: Mapping[str, Sequence[int]]
    queue_visible: Sequence[int | None]
    queue_in_flight: Sequence[int | None]
    dead_letter_depth: Sequence[int | None]
    oldest_message_age_s: Sequence[float | None]
    invocations: Sequence[int]
    concurrency: Sequence[int]

    def __post_init__(self) -> None:
        lengths = {
            len(series)
            for series in (
                *self.records_accepted.values(),
                *self.dead_letters.values(),
                *self.calls.values(),
                self.queue_visible,
                self.queue_in_flight,
                self.dead_letter_depth,
                self.oldest_message_age_s,
                self.invocations,
                self.concurrency,
            )
        }
        if len(lengths) != 1:
            raise ValueError(f"every series needs one value per interval; lengths found: {sorted(lengths)}")

    @property
    def intervals(self) -> int:
        """The number of intervals."""
        return len(self.invocations)

    def seconds(self) -> list[float]:
        """Each interval's start, in seconds since the run started (the report's x axis)."""
        return [round(index * self.interval_s, 6) for index in range(self.intervals)]

    def to_dict(self) -> dict[str, Any]:
        """The timeline as a JSON-ready dict (series as lists)."""
        data = asdict(self)
        return {key: _plain(value) for key, value in data.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: list(series) for key, series in value.items()}
    if isinstance(value, tuple | list):
        return list(value)
    return value


def dead_letters_from_messages(letters: Iterable[Mapping[str, Any]]) -> list[DeadLetter]:
    """Read dead letters as the dead-letter queue holds them: ``ErrorCode`` and ``SentTimestamp`` (epoch ms).

    Parameters
    ----------
    letters
        One mapping per message, with its message attributes and its ``SentTimestamp`` system attribute side by
        side (as ``LocalPipeline.dead_letters`` flattens them). A letter without a SentTimestamp is skipped: it
        has no place on a timeline.
    """
    found: list[DeadLetter] = []
    for letter in letters:
        try:
            at = int(letter[SENT_TIMESTAMP]) / 1000.0
        except (KeyError, TypeError, ValueError):
            continue
        code = letter.get(ERROR_CODE_ATTRIBUTE) or MOVED_BY_REDRIVE_POLICY
        found.append(DeadLetter(at=at, code=str(code)))
    return found


def call_outcome(call: Mapping[str, Any]) -> str:
    """The outcome of one call-log entry: ``ok``, ``throttled``, ``5xx`` or ``other error``."""
    error = call.get("error")
    status = call.get("status")
    if error is None and status == 200:
        return OK
    if error == THROTTLING_CODE or call.get("fault") == "throttle":
        return THROTTLED
    if isinstance(status, int) and status >= 500:
        return SERVER_ERROR
    return OTHER_ERROR


def build_timeline(
    *,
    calls: Iterable[Mapping[str, Any]],
    recording: Recording,
    dead_letters: Iterable[DeadLetter] = (),
    interval_s: float = DEFAULT_INTERVAL_S,
    started_at: float | None = None,
) -> RunTimeline:
    """Bucket a run's call log, dead letters, invocations and queue samples into a :class:`RunTimeline`.

    Parameters
    ----------
    calls
        The emulator's call log (``EmulatorState.calls()``); only the Put* calls count, so provisioning and the
        handler's Describe* calls stay out of the graphs.
    recording
        What the :class:`~local.report.recorder.TimelineRecorder` saw.
    dead_letters
        The dead-letter queue's letters (:func:`dead_letters_from_messages`).
    interval_s
        The interval of the series (CloudWatch graphs per minute; a local run lasts seconds).
    started_at
        The first interval's start; the recording's start by default. Anything earlier is left out.
    """
    if interval_s <= 0:
        raise ValueError(f"interval_s must be positive, got {interval_s}")
    start = recording.started_at if started_at is None else started_at
    put_calls = [call for call in calls if call.get("api") in APIS and isinstance(call.get("time"), int | float)]
    letters = list(dead_letters)
    end = max(
        [
            start,
            *(float(call["time"]) for call in put_calls),
            *(letter.at for letter in letters),
            *(sample.at for sample in recording.queue_samples),
            *(span.ended_at or span.started_at for span in recording.invocations),
        ]
    )
    buckets = _Buckets(start, interval_s, math.floor((end - start) / interval_s) + 1)

    records_accepted = {api: [0] * buckets.count for api in APIS}
    outcomes = {outcome: [0] * buckets.count for outcome in OUTCOMES}
    for call in put_calls:
        index = buckets.index(float(call["time"]))
        if index is None:
            continue
        outcome = call_outcome(call)
        outcomes[outcome][index] += 1
        if outcome == OK:
            records_accepted[call["api"]][index] += int(call.get("records") or 0)

    codes = [str(code) for code in ErrorCode]
    codes += sorted({letter.code for letter in letters} - set(codes))
    by_code = {code: [0] * buckets.count for code in codes}
    for letter in letters:
        index = buckets.index(letter.at)
        if index is not None:
            by_code[letter.code][index] += 1

    visible, in_flight, dead_letter_depth = _queue_gauges(buckets, recording.queue_samples)
    return RunTimeline(
        started_at=start,
        interval_s=interval_s,
        records_accepted=records_accepted,
        dead_letters=by_code,
        calls=outcomes,
        queue_visible=visible,
        queue_in_flight=in_flight,
        dead_letter_depth=dead_letter_depth,
        oldest_message_age_s=_oldest_age(buckets, recording.invocations, visible, in_flight),
        invocations=_invocations(buckets, recording.invocations),
        concurrency=_concurrency(buckets, recording.invocations),
    )


@dataclass(frozen=True, slots=True)
class _Buckets:
    start: float
    interval_s: float
    count: int

    def index(self, at: float) -> int | None:
        """The interval ``at`` falls in; ``None`` before the start (after the end cannot happen: end is a max)."""
        if at < self.start:
            return None
        return min(int((at - self.start) // self.interval_s), self.count - 1)

    def bounds(self, index: int) -> tuple[float, float]:
        return self.start + index * self.interval_s, self.start + (index + 1) * self.interval_s


def _max_into(series: list[Any], index: int, value: Any) -> None:
    series[index] = value if series[index] is None else max(series[index], value)


def _queue_gauges(
    buckets: _Buckets, samples: Sequence[QueueSample]
) -> tuple[list[int | None], list[int | None], list[int | None]]:
    visible: list[int | None] = [None] * buckets.count
    in_flight: list[int | None] = [None] * buckets.count
    dead_letters: list[int | None] = [None] * buckets.count
    for sample in samples:
        index = buckets.index(sample.at)
        if index is None:
            continue
        # Delayed messages are waiting too; the dashboard's "waiting" is ApproximateNumberOfMessagesVisible.
        _max_into(visible, index, sample.visible + sample.delayed)
        _max_into(in_flight, index, sample.in_flight)
        if sample.dead_letters is not None:
            _max_into(dead_letters, index, sample.dead_letters)
    return visible, in_flight, dead_letters


def _oldest_age(
    buckets: _Buckets,
    spans: Sequence[InvocationSpan],
    visible: Sequence[int | None],
    in_flight: Sequence[int | None],
) -> list[float | None]:
    ages: list[float | None] = [None] * buckets.count
    for span in spans:
        index = buckets.index(span.started_at)
        if index is not None and span.oldest_sent_at is not None:
            _max_into(ages, index, round(max(0.0, span.started_at - span.oldest_sent_at), 3))
    for index in range(buckets.count):
        if ages[index] is None and visible[index] == 0 and in_flight[index] == 0:
            ages[index] = 0.0
    return ages


def _invocations(buckets: _Buckets, spans: Sequence[InvocationSpan]) -> list[int]:
    started = [0] * buckets.count
    for span in spans:
        index = buckets.index(span.started_at)
        if index is not None:
            started[index] += 1
    return started


def _concurrency(buckets: _Buckets, spans: Sequence[InvocationSpan]) -> list[int]:
    """The most invocations in progress at once in each interval (a sweep over starts and ends)."""
    # An end sorts before a start at the same instant: back-to-back invocations on one poller are not concurrent.
    changes = sorted(
        [(span.started_at, 1) for span in spans] + [(span.ended_at, -1) for span in spans if span.ended_at is not None],
    )
    peaks = [0] * buckets.count
    running = 0
    position = 0
    for index in range(buckets.count):
        low, high = buckets.bounds(index)
        while position < len(changes) and changes[position][0] < low:
            running += changes[position][1]
            position += 1
        peak = running
        while position < len(changes) and changes[position][0] < high:
            running += changes[position][1]
            peak = max(peak, running)
            position += 1
        peaks[index] = peak
    return peaks
