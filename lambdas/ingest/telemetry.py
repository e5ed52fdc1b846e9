"""Counters the pipeline keeps during one invocation, published as CloudWatch EMF metrics by the handler.

The pipeline only counts (pure, testable); ``publish`` hands the totals to Powertools Metrics, one EMF
document per dimension set, so a batch of ten records costs a handful of log lines, not one per record.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Protocol

Dimensions = tuple[tuple[str, str], ...]


class MetricSink(Protocol):
    """What ``publish`` needs: ``emit(name, unit, value, dimensions)``."""

    def emit(self, name: str, unit: str, value: float, dimensions: Dimensions) -> None:
        """Record one metric value with its dimensions."""


class Telemetry:
    """Counters and latency samples keyed by (metric name, dimensions)."""

    def __init__(self) -> None:
        self.counts: defaultdict[tuple[str, Dimensions], float] = defaultdict(float)
        self.latencies: defaultdict[str, list[float]] = defaultdict(list)

    def count(self, name: str, value: float, **dimensions: str) -> None:
        """Add ``value`` to the counter ``name`` under ``dimensions``."""
        if value:
            self.counts[(name, tuple(sorted(dimensions.items())))] += value

    def call(self, api: str, seconds: float, error_code: str | None) -> None:
        """Count one Personalize call, its latency, and its error code if it failed."""
        self.count("ApiCalls", 1, Api=api)
        self.latencies[api].append(seconds * 1000.0)
        if error_code:
            self.count("ApiErrors", 1, Api=api, ErrorCode=error_code)

    def get(self, name: str, **dimensions: str) -> float:
        """The current value of a counter (0 when never counted)."""
        return self.counts.get((name, tuple(sorted(dimensions.items()))), 0.0)

    def publish(self, sink: MetricSink) -> None:
        """Hand every counter and latency sample to ``sink``."""
        for (name, dimensions), value in sorted(self.counts.items()):
            sink.emit(name, "Count", value, dimensions)
        for api, samples in sorted(self.latencies.items()):
            for sample in samples:
                sink.emit("ApiLatency", "Milliseconds", sample, (("Api", api),))
