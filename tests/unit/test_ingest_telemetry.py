"""Telemetry: what the pipeline counts during one invocation, and what it hands to the EMF sink."""

from __future__ import annotations

from contract import Dimension, Metric
from ingest.telemetry import Dimensions, Telemetry


class RecordingSink:
    def __init__(self) -> None:
        self.emitted: list[tuple[str, str, float, Dimensions]] = []

    def emit(self, name: str, unit: str, value: float, dimensions: Dimensions) -> None:
        self.emitted.append((name, unit, value, dimensions))


def test_telemetry_call_counts_the_call_its_latency_size_and_error_code() -> None:
    telemetry = Telemetry()

    telemetry.call("PutItems", 0.120, "ThrottlingException", 10)
    telemetry.call("PutItems", 0.030, None, 4)

    assert telemetry.get(Metric.API_CALLS, {Dimension.API: "PutItems"}) == 2
    assert (
        telemetry.get(Metric.API_ERRORS, {Dimension.API: "PutItems", Dimension.ERROR_CODE: "ThrottlingException"}) == 1
    )
    assert telemetry.values(Metric.API_LATENCY, {Dimension.API: "PutItems"}) == [120.0, 30.0]
    assert telemetry.values(Metric.RECORDS_PER_CALL, {Dimension.API: "PutItems"}) == [10, 4]
    assert telemetry.values(Metric.RECORDS_PER_CALL, {Dimension.API: "PutUsers"}) == []


def test_telemetry_zero_count_is_not_recorded() -> None:
    telemetry = Telemetry()

    telemetry.count(Metric.RECORDS_SUPERSEDED, 0, {Dimension.API: "PutItems"})

    assert telemetry.counts == {}


def test_telemetry_publish_sums_counters_and_emits_every_sample_with_its_unit() -> None:
    telemetry, sink = Telemetry(), RecordingSink()
    telemetry.count(Metric.RECORDS_ACCEPTED, 3, {Dimension.API: "PutItems"})
    telemetry.count(Metric.RECORDS_ACCEPTED, 2, {Dimension.API: "PutItems"})
    telemetry.count(Metric.RECORDS_FAILED, 1)
    telemetry.call("PutActions", 0.5, None, 7)

    telemetry.publish(sink)

    assert sorted(sink.emitted) == sorted(
        [
            ("ApiCalls", "Count", 1, (("Api", "PutActions"),)),
            ("RecordsAccepted", "Count", 5, (("Api", "PutItems"),)),
            ("RecordsFailed", "Count", 1, ()),
            ("ApiLatency", "Milliseconds", 500.0, (("Api", "PutActions"),)),
            ("RecordsPerCall", "Count", 7, (("Api", "PutActions"),)),
        ]
    )
