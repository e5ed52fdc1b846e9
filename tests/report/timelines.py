"""Synthetic runs for the report tests: call-log entries as the emulator writes them, and a realistic recording."""

from __future__ import annotations

import random
from typing import Any

from contract import APIS
from local.report import DeadLetter, InvocationSpan, QueueSample, Recording, RunTimeline, build_timeline

T0 = 1_800_000_000.0


def call(
    at: float, api: str = "PutItems", *, status: int = 200, error: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A call-log entry with every key the emulator writes (``EmulatorState.calls``)."""
    return {
        "seq": 0,
        "time": at,
        "service": "personalize-events",
        "api": api,
        "region": "us-east-1",
        "status": status,
        "error": error,
        "message": None,
        "records": extra.pop("records", 10),
        "datasetArn": None,
        "trackingId": None,
        "datasetGroupArn": None,
        "fault": extra.pop("fault", None),
        "durationMs": 1.0,
        **extra,
    }


def realistic_timeline(seed: int = 7, seconds: int = 30) -> RunTimeline:
    """A drain of a 1,500-message backlog by two pollers, with throttling, 5xx and dead letters, bucketed."""
    rng = random.Random(seed)
    calls: list[dict[str, Any]] = []
    spans: list[InvocationSpan] = []
    samples: list[QueueSample] = []
    letters: list[DeadLetter] = []
    backlog, in_flight = 1500, 0
    for tick in range(seconds * 2):  # half-second steps
        now = T0 + tick / 2
        drained = min(backlog, rng.randint(40, 60)) if tick >= 2 else 0
        backlog -= drained
        in_flight = 20 if backlog else 0
        samples.append(QueueSample(now, backlog, in_flight, 0, len(letters)))
        for poller in range(2 if drained else 0):
            start = now + poller * 0.1
            spans.append(InvocationSpan(start, start + 0.45, 10, T0 + max(0.0, tick / 2 - 20 + backlog / 100)))
        for _ in range(drained // 4):
            api = rng.choice(APIS)
            roll = rng.random()
            if roll < 0.05:
                calls.append(call(now, api, status=400, error="ThrottlingException", fault="throttle"))
            elif roll < 0.07:
                calls.append(call(now, api, status=500, error="InternalFailure", fault="server_error"))
            else:
                calls.append(call(now, api, records=rng.randint(1, 10)))
        if drained and rng.random() < 0.3:
            letters.append(DeadLetter(now, rng.choice(["MalformedMessage", "SchemaViolation"])))
    recording = Recording(T0, tuple(spans), tuple(samples))
    return build_timeline(calls=calls, recording=recording, dead_letters=letters)
