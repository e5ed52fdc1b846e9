"""Counters the pipeline keeps during one invocation, published as CloudWatch EMF metrics by the handler.

The pipeline only counts (pure, testable); ``publish`` hands the totals to Powertools Metrics, one EMF
document per dimension set, so a batch of ten records costs a handful of log lines, not one per record.

The metric names and dimensions are a contract with ``stacks/monitoring.py`` (dashboard and alarms): renaming
one, or changing its dimensions, silently empties a graph or an alarm.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Protocol

Dimensions = tuple[tuple[str, str], ...]

API_CALLS = "ApiCalls"
API_ERRORS = "ApiErrors"
API_LATENCY = "ApiLatency"
# The size of every Put* call made (retries and bisection halves included): how well batches fill calls.
RECORDS_PER_CALL = "RecordsPerCall"


class MetricSink(Protocol):
    """What ``publish`` needs: ``emit(name, unit, value, dimensions)``."""

    def emit(self, name: str, unit: str, value: float, dimensions: Dimensions) -> None:
        """Record one metric value with its dimensions."""


class Telemetry:
    """Counters (summed) and samples (one value per observation) keyed by (metric name, dimensions)."""

    def __init__(self) -> None:
        self.counts: defaultdict[tuple[str, Dimensions], float] = defaultdict(float)
        self.samples: defaultdict[tuple[str, str, Dimensions], list[float]] = defaultdict(list)

    def count(self, name: str, value: float, **dimensions: str) -> None:
        """Add ``value`` to the counter ``name`` under ``dimensions``."""
        if value:
            self.counts[(name, _key(dimensions))] += value

    def sample(self, name: str, unit: str, value: float, **dimensions: str) -> None:
        """Keep one observation of a distribution (latency, call size): CloudWatch keeps its percentiles."""
        self.samples[(name, unit, _key(dimensions))].append(value)

    def call(self, api: str, seconds: float, error_code: str | None, records: int) -> None:
        """Count one Personalize call of ``records`` records, its latency, and its error code if it failed."""
        self.count(API_CALLS, 1, Api=api)
        self.sample(API_LATENCY, "Milliseconds", seconds * 1000.0, Api=api)
        self.sample(RECORDS_PER_CALL, "Count", records, Api=api)
        if error_code:
            self.count(API_ERRORS, 1, Api=api, ErrorCode=error_code)

    def get(self, name: str, **dimensions: str) -> float:
        """The current value of a counter (0 when never counted)."""
        return self.counts.get((name, _key(dimensions)), 0.0)

    def values(self, name: str, **dimensions: str) -> list[float]:
        """The observations of a sampled metric (empty when never observed)."""
        key = _key(dimensions)
        return [v for (n, _unit, dims), found in self.samples.items() if n == name and dims == key for v in found]

    def publish(self, sink: MetricSink) -> None:
        """Hand every counter and every sample to ``sink``."""
        for (name, dimensions), value in sorted(self.counts.items()):
            sink.emit(name, "Count", value, dimensions)
        for (name, unit, dimensions), found in sorted(self.samples.items()):
            for value in found:
                sink.emit(name, unit, value, dimensions)


def _key(dimensions: dict[str, str]) -> Dimensions:
    return tuple(sorted(dimensions.items()))
