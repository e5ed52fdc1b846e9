"""Step 4, send: one call per chunk; isolate poison records by bisection; retry what may pass later.

Personalize answers a Put* call as a whole: one bad record fails all ten, and the error does not say which
(docs/personalize.md §1). ``bisect_invalid`` splits a rejected chunk until every bad record stands alone, so only
those go to the dead-letter queue and the rest are written. Throttling, 5xx and connection errors are retried
with capped, jittered exponential backoff while the invocation has time.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from contract import Dimension, Metric
from ingest.clients import SHORTEST_CALL_S, client_within, time_bound
from ingest.decode import Message
from ingest.errors import OUT_OF_TIME, CallFailure, Disposition, classify, tracking_id_refused
from ingest.model import ApiModel
from ingest.pacing import Pacer
from ingest.plan import Call
from ingest.telemetry import Telemetry
from ingest.validate import ValidRecord

__all__ = [
    "ACCEPTED",
    "BLOCKED",
    "BLOCKED_BY_EARLIER_FAILURE",
    "Accepted",
    "Failed",
    "Outcome",
    "Pacer",
    "PersonalizeEventsSink",
    "RecordSink",
    "Rejected",
    "Sender",
]

# Backoff: throttling windows are one second long, so waits between 0.1 s and a few seconds are the useful range.
BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 4.0


class RecordSink(Protocol):
    """Where records go: the personalize-events client behind a one-method adapter."""

    def put(
        self,
        api: ApiModel,
        target: str,
        call_fields: dict[str, Any],
        records: list[dict[str, Any]],
        *,
        time_left_s: float,
    ) -> None:
        """Write ``records`` with ``api``'s operation, in a call that ends within ``time_left_s``; raise the
        client's exception on failure (``OutOfTime`` when no call fits)."""


class PersonalizeEventsSink:
    """The real ``RecordSink``: boto3 ``personalize-events`` clients (a ``ClientLadder``, or one plain client)."""

    def __init__(self, client: Any) -> None:
        self._clients = time_bound(client)

    def put(
        self,
        api: ApiModel,
        target: str,
        call_fields: dict[str, Any],
        records: list[dict[str, Any]],
        *,
        time_left_s: float = float("inf"),
    ) -> None:
        """Call the kind's Put* operation with ``records`` through a client whose timeouts fit ``time_left_s``."""
        kind = api.kind
        client = client_within(self._clients, time_left_s)
        getattr(client, api.method)(**{kind.target_field: target, **call_fields, kind.list_field: records})


@dataclass(frozen=True, slots=True)
class Accepted:
    """Personalize accepted the record."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """Personalize rejected the record alone (InvalidInputException): it belongs in the DLQ."""

    failure: CallFailure


@dataclass(frozen=True, slots=True)
class Failed:
    """The record was not written and may be later: retryable, throttled past the budget, or a setup error."""

    failure: CallFailure


Outcome = Accepted | Rejected | Failed
ACCEPTED = Accepted()


class Sender:
    """Sends planned calls and returns an outcome per record."""

    def __init__(
        self,
        *,
        sink: RecordSink,
        apis: dict[str, ApiModel],
        telemetry: Telemetry,
        deadline: float,
        pacer: Pacer,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        holds_group: Callable[[Message, CallFailure], bool] = lambda _message, _failure: True,
    ) -> None:
        """``holds_group`` says whether a failed record holds back the later records of its FIFO message group
        (it does when SQS will redeliver it; not when it is about to be dead-lettered).

        Thread-safe: the pipeline sends independent calls from a pool (``ingest.concurrency``); the pacer and the
        telemetry have locks of their own, and the refused targets share ``_lock``."""
        self._sink = sink
        self._apis = apis
        self._telemetry = telemetry
        self._deadline = deadline
        self._pacer = pacer
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - backoff jitter, not cryptography
        self._holds_group = holds_group
        # Targets (API, tracking id) found unusable in this batch: their remaining records are not sent.
        self._refused_targets: dict[tuple[str, str], CallFailure] = {}
        self._lock = threading.Lock()

    def send(self, call: Call) -> dict[str, Outcome]:
        """Send one planned call; the result maps each record's SQS message id to its outcome."""
        api = self._apis[call.kind.name]
        return self.bisect_invalid(api, call, list(call.records))

    def bisect_invalid(self, api: ApiModel, call: Call, records: Sequence[ValidRecord]) -> dict[str, Outcome]:
        """Send ``records``; on InvalidInputException split them in halves until the bad ones stand alone."""
        with self._lock:
            refused = self._refused_targets.get((api.kind.api, call.target))
        if refused is not None:
            return {_key(record): Failed(refused) for record in records}
        result = self._send_with_retries(api, call, records)
        if not isinstance(result, CallFailure):
            return dict.fromkeys((_key(record) for record in records), ACCEPTED)
        if result.disposition is Disposition.POISON:
            if len(records) == 1:
                setup = tracking_id_refused(result, call.target) if call.kind.target_field == "trackingId" else None
                if setup is not None:
                    # One record alone, refused for the tracking id: every record through it would be (errors.py).
                    with self._lock:
                        self._refused_targets[(api.kind.api, call.target)] = setup
                    return {_key(records[0]): Failed(setup)}
                return {_key(records[0]): Rejected(result)}
            self._telemetry.count(Metric.BISECTIONS, 1, {Dimension.API: api.kind.api})
            middle = len(records) // 2
            outcomes = self.bisect_invalid(api, call, records[:middle])
            # FIFO: a record of the first half that failed (retryable or setup) holds back every later record of
            # its message group; sending them now would apply them before it when SQS redelivers the group.
            failed_groups = set()
            for record in records[:middle]:
                outcome, message = outcomes[_key(record)], record.change.message
                if isinstance(outcome, Failed) and message.group_id and self._holds_group(message, outcome.failure):
                    failed_groups.add(message.group_id)
            rest = []
            for record in records[middle:]:
                if record.change.message.group_id in failed_groups:
                    outcomes[_key(record)] = BLOCKED
                else:
                    rest.append(record)
            if rest:
                outcomes.update(self.bisect_invalid(api, call, rest))
            return outcomes
        return {_key(record): Failed(result) for record in records}

    def _send_with_retries(self, api: ApiModel, call: Call, records: Sequence[ValidRecord]) -> CallFailure | None:
        """One call, retried while the invocation has time; None when Personalize accepted it.

        No call starts with less than ``SHORTEST_CALL_S`` before the deadline, and each is bounded by the time
        left (the sink picks a client whose timeouts fit), so no call runs past the deadline into the time kept for
        dead letters and the answer.
        """
        attempt = 0
        latest_start = self._deadline - SHORTEST_CALL_S
        if self._clock() > latest_start:
            return OUT_OF_TIME
        failure: CallFailure | None = None
        while True:
            if not self._pacer.wait(api.kind.api, deadline=latest_start):
                # A retry keeps the error it retried (the reason a last delivery is dead-lettered with).
                return failure or OUT_OF_TIME
            started = self._clock()
            try:
                self._sink.put(
                    api,
                    call.target,
                    dict(call.call_fields),
                    [record.record for record in records],
                    time_left_s=self._deadline - started,
                )
            except Exception as exc:
                failure = classify(exc)
                self._telemetry.call(api.kind.api, self._clock() - started, failure.error_code, len(records))
            else:
                self._telemetry.call(api.kind.api, self._clock() - started, None, len(records))
                self._pacer.accepted(api.kind.api)
                return None
            if failure.disposition in {Disposition.POISON, Disposition.SETUP}:
                return failure
            if failure.disposition is Disposition.THROTTLED:
                self._telemetry.count(Metric.THROTTLED_CALLS, 1, {Dimension.API: api.kind.api})
                self._pacer.throttled(api.kind.api)
            delay = self._rng.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))
            if self._clock() + delay > latest_start:
                return failure
            self._telemetry.count(Metric.RETRIES, 1, {Dimension.API: api.kind.api})
            self._sleep(delay)
            attempt += 1


# FIFO: not sent because an earlier message of its group failed in this batch (docs/design.md "The ingest algorithm",
# step 5).
BLOCKED_BY_EARLIER_FAILURE = CallFailure(
    Disposition.RETRYABLE, "BlockedByEarlierFailure", "an earlier message of its group failed"
)
BLOCKED = Failed(BLOCKED_BY_EARLIER_FAILURE)


def _key(record: ValidRecord) -> str:
    return record.change.message.message_id
