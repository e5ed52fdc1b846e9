"""Counters the pipeline keeps during one invocation, published as CloudWatch EMF metrics by the handler.

The pipeline only counts (pure, testable); ``publish`` hands the totals to Powertools Metrics, one EMF
document per dimension set, so a batch of ten records costs a handful of log lines, not one per record.

The metric names and dimensions are a contract with ``stacks/monitoring.py`` (dashboard and alarms): renaming
one, or changing its dimensions, silently empties a graph or an alarm. So both sides take them from
``contract.Metric`` and ``contract.Dimension``, and nothing here accepts a bare string for either.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Protocol

from contract import Dimension, Metric

# A metric's dimensions as published: (name, value) pairs, sorted by name.
Dimensions = tuple[tuple[str, str], ...]


class Log(Protocol):
    """The slice of a logger the pipeline uses (Powertools' Logger and logging.Logger both fit)."""

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        """Log at INFO."""

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        """Log at WARNING."""


class MetricSink(Protocol):
    """What ``publish`` needs: ``emit(name, unit, value, dimensions)``."""

    def emit(self, name: str, unit: str, value: float, dimensions: Dimensions) -> None:
        """Record one metric value with its dimensions."""


class Telemetry:
    """Counters (summed) and samples (one value per observation) keyed by (metric name, dimensions).

    Thread-safe: the sender's pool counts from several threads at once (``ingest.concurrency``).
    """

    def __init__(self) -> None:
        self.counts: defaultdict[tuple[str, Dimensions], float] = defaultdict(float)
        self.samples: defaultdict[tuple[str, str, Dimensions], list[float]] = defaultdict(list)
        self._lock = threading.Lock()

    def count(self, metric: Metric, value: float, dimensions: Mapping[Dimension, str] | None = None) -> None:
        """Add ``value`` to the counter ``metric`` under ``dimensions``."""
        if value:
            key = (str(metric), _key(dimensions))
            with self._lock:
                self.counts[key] += value

    def sample(
        self, metric: Metric, unit: str, value: float, dimensions: Mapping[Dimension, str] | None = None
    ) -> None:
        """Keep one observation of a distribution (latency, call size): CloudWatch keeps its percentiles."""
        key = (str(metric), unit, _key(dimensions))
        with self._lock:
            self.samples[key].append(value)

    def call(self, api: str, seconds: float, error_code: str | None, records: int) -> None:
        """Count one Personalize call of ``records`` records, its latency, and its error code if it failed.

        RecordsPerCall is the size of every Put* call made (retries and bisection halves included): how well
        batches fill calls.
        """
        self.count(Metric.API_CALLS, 1, {Dimension.API: api})
        self.sample(Metric.API_LATENCY, "Milliseconds", seconds * 1000.0, {Dimension.API: api})
        self.sample(Metric.RECORDS_PER_CALL, "Count", records, {Dimension.API: api})
        if error_code:
            self.count(Metric.API_ERRORS, 1, {Dimension.API: api, Dimension.ERROR_CODE: error_code})

    def get(self, metric: Metric, dimensions: Mapping[Dimension, str] | None = None) -> float:
        """The current value of a counter (0 when never counted)."""
        return self.counts.get((str(metric), _key(dimensions)), 0.0)

    def values(self, metric: Metric, dimensions: Mapping[Dimension, str] | None = None) -> list[float]:
        """The observations of a sampled metric (empty when never observed)."""
        name, key = str(metric), _key(dimensions)
        return [v for (n, _unit, dims), found in self.samples.items() if n == name and dims == key for v in found]

    def publish(self, sink: MetricSink) -> None:
        """Hand every counter and every sample to ``sink``."""
        for (name, dimensions), value in sorted(self.counts.items()):
            sink.emit(name, "Count", value, dimensions)
        for (name, unit, dimensions), found in sorted(self.samples.items()):
            for value in found:
                sink.emit(name, unit, value, dimensions)


def _key(dimensions: Mapping[Dimension, str] | None) -> Dimensions:
    return tuple(sorted((str(name), value) for name, value in (dimensions or {}).items()))
