"""The handler's CloudWatch EMF metrics (issue 6): names, units and dimensions, as stacks/monitoring.py reads them.

Each test invokes the real handler and reads the EMF documents Powertools prints, the way CloudWatch Logs turns
them into metrics: a renamed metric or a changed dimension set fails here before it empties a graph or an alarm.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from aws_lambda_powertools.metrics.provider import cold_start

from ingest import handler
from tests.handlers.conftest import SHORT_INVOCATION_MS, Harness, make_harness
from tests.support.fakes import DATASETS, client_error
from tests.support.sqs_events import action, event, item, sqs_event, sqs_record

NAMESPACE = "PersonalizeIngest"
SERVICE = "personalize-ingest"
THROTTLE = client_error("ThrottlingException", 400, "Rate exceeded")


@dataclass(frozen=True)
class Datum:
    """One metric of one EMF document."""

    name: str
    unit: str
    dimensions: dict[str, str]
    values: list[float]


def emitted(out: str) -> list[Datum]:
    """Every metric in the EMF documents on stdout, checked against the EMF specification's shape."""
    data = []
    for line in out.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)
        [directive] = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE
        [dimension_set] = directive["Dimensions"]
        dimensions = {name: document[name] for name in dimension_set}
        for metric in directive["Metrics"]:
            raw = document[metric["Name"]]
            data.append(
                Datum(
                    metric["Name"],
                    metric["Unit"],
                    dimensions,
                    [float(v) for v in (raw if isinstance(raw, list) else [raw])],
                )
            )
    return data


def total(data: list[Datum], name: str, **dimensions: str) -> float:
    """The sum of ``name`` over the documents with exactly ``dimensions`` (plus ``service``)."""
    wanted = {**dimensions, "service": SERVICE}
    return sum(sum(datum.values) for datum in data if datum.name == name and datum.dimensions == wanted)


def values(data: list[Datum], name: str, **dimensions: str) -> list[float]:
    wanted = {**dimensions, "service": SERVICE}
    return [value for datum in data if datum.name == name and datum.dimensions == wanted for value in datum.values]


def test_metrics_every_document_has_the_namespace_and_the_service_dimension(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    harness.invoke(sqs_event(item("sku-1"), "{bad"))

    data = emitted(capsys.readouterr().out)

    assert data
    assert all(datum.dimensions.get("service") == SERVICE for datum in data), data


def test_metrics_records_received_per_kind_and_batch_size(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    harness.invoke(sqs_event(item("sku-1"), item("sku-2"), action("a-1"), event("s-1", "u-1", "sku-1"), "{bad"))

    data = emitted(capsys.readouterr().out)

    assert total(data, "RecordsReceived", Kind="item") == 2
    assert total(data, "RecordsReceived", Kind="action") == 1
    assert total(data, "RecordsReceived", Kind="event") == 1
    # BatchSize counts every record delivered, the one that is not even JSON included.
    assert values(data, "BatchSize") == [5]


def test_metrics_accepted_per_api_and_dead_lettered_per_error_code(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    harness.invoke(sqs_event(item("sku-1"), action("a-1"), action("a-2"), "{bad", item("sku-9", colour="red")))

    data = emitted(capsys.readouterr().out)

    assert total(data, "RecordsAccepted", Api="PutItems") == 1
    assert total(data, "RecordsAccepted", Api="PutActions") == 2
    assert total(data, "RecordsDeadLettered", ErrorCode="MalformedMessage") == 1
    assert total(data, "RecordsDeadLettered", ErrorCode="SchemaViolation") == 1
    assert [datum.unit for datum in data if datum.name == "RecordsDeadLettered"] == ["Count", "Count"]


def test_metrics_throttled_calls_retries_api_calls_and_errors_per_api(
    aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    harness = make_harness(script=[THROTTLE, THROTTLE, None])

    harness.invoke(sqs_event(*(item(f"sku-{i}") for i in range(3))))

    data = emitted(capsys.readouterr().out)
    assert total(data, "ApiCalls", Api="PutItems") == 3
    assert total(data, "ThrottledCalls", Api="PutItems") == 2
    assert total(data, "Retries", Api="PutItems") == 2
    assert total(data, "ApiErrors", Api="PutItems", ErrorCode="ThrottlingException") == 2
    assert total(data, "RecordsAccepted", Api="PutItems") == 3


def test_metrics_api_latency_is_one_sample_per_call_in_milliseconds(
    aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    harness = make_harness()
    harness.events.on_call = lambda: setattr(harness.clock, "now", harness.clock.now + 0.25)  # each call "takes" 250 ms

    harness.invoke(sqs_event(*(item(f"sku-{i}") for i in range(12)), action("a-1")))

    data = emitted(capsys.readouterr().out)
    assert values(data, "ApiLatency", Api="PutItems") == [250.0, 250.0]
    assert values(data, "ApiLatency", Api="PutActions") == [250.0]
    assert {datum.unit for datum in data if datum.name == "ApiLatency"} == {"Milliseconds"}


def test_metrics_records_per_call_is_one_sample_per_call(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    harness.invoke(sqs_event(*(item(f"sku-{i}") for i in range(25)), action("a-1")))

    data = emitted(capsys.readouterr().out)

    # The three calls go out concurrently: in any order.
    assert sorted(values(data, "RecordsPerCall", Api="PutItems")) == [5, 10, 10]
    assert values(data, "RecordsPerCall", Api="PutActions") == [1]
    assert {datum.unit for datum in data if datum.name == "RecordsPerCall"} == {"Count"}


def test_metrics_records_per_call_counts_each_bisection_call(aws_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    harness = make_harness(poison_ids={"sku-0"})

    harness.invoke(sqs_event(*(item(f"sku-{i}") for i in range(4))))

    data = emitted(capsys.readouterr().out)
    # [0 1 2 3] refused → [0 1] refused → [0] refused, [1] sent; [2 3] sent.
    assert values(data, "RecordsPerCall", Api="PutItems") == [4, 2, 1, 1, 2]
    assert total(data, "Bisections", Api="PutItems") == 2
    assert total(data, "RecordsDeadLettered", ErrorCode="InvalidInput") == 1


def test_metrics_older_change_acknowledged_unwritten_counted_superseded_not_failed(
    aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an older change on its last delivery whose newer change fails (503): the older one is acknowledged
    harness = make_harness(failing_ids={"sku-1": client_error("ServiceUnavailable", 503, "later")})
    older = sqs_record(item("sku-1", price=1), sent_timestamp=100, receive_count=5)
    newer = sqs_record(item("sku-1", price=2), sent_timestamp=200, receive_count=1)

    harness.invoke({"Records": [older, newer]}, remaining_ms=SHORT_INVOCATION_MS)

    # THEN the dashboard's "older changes skipped for a newer one" graph counts it, and only the newer one failed
    data = emitted(capsys.readouterr().out)
    assert total(data, "RecordsSuperseded", Api="PutItems") == 1
    assert total(data, "RecordsFailed") == 1
    assert total(data, "RecordsAccepted", Api="PutItems") == 0


@pytest.mark.parametrize("code", ["ResourceNotFoundException", "AccessDeniedException"])
def test_metrics_setup_errors_per_error_code_and_records_failed(
    aws_env: None, capsys: pytest.CaptureFixture[str], code: str
) -> None:
    harness = make_harness(script=[client_error(code, 404)])

    harness.invoke(sqs_event(item("sku-1"), item("sku-2")))

    data = emitted(capsys.readouterr().out)
    assert total(data, "SetupErrors", ErrorCode=code) == 2
    assert total(data, "RecordsFailed") == 2
    assert total(data, "RecordsDeadLettered", ErrorCode="RetriesExhausted") == 0


def test_metrics_setup_error_of_describe_dataset_is_counted(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    harness.control.failing_datasets[DATASETS["ITEMS"]] = client_error(
        "AccessDeniedException", 403, "no", "DescribeDataset"
    )

    harness.invoke(sqs_event(item("sku-1")))

    assert total(emitted(capsys.readouterr().out), "SetupErrors", ErrorCode="AccessDeniedException") == 1


def test_metrics_cold_start_is_counted_once_per_execution_environment(
    harness: Harness, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Powertools keeps the flag per process; earlier tests in this process have used it up.
    monkeypatch.setattr(cold_start, "is_cold_start", True)

    harness.invoke(sqs_event(item("sku-1")))
    harness.invoke(sqs_event(item("sku-2")))

    data = emitted(capsys.readouterr().out)
    assert total(data, "ColdStart", function_name="personalize-ingest") == 1


def test_metrics_service_dimension_does_not_depend_on_the_environment_at_invocation(
    harness: Harness, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Powertools' single_metric reads POWERTOOLS_SERVICE_NAME when it serializes; the handler pins the service it
    # was started with, so every document carries the same dimension set the dashboard queries.
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)

    harness.invoke(sqs_event(item("sku-1"), "{bad"))

    data = emitted(capsys.readouterr().out)
    assert {datum.dimensions["service"] for datum in data} == {handler.SERVICE_NAME} == {SERVICE}


def test_metrics_disabled_nothing_printed_however_many_invocations(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN metrics switched off, as the local runner and the demo run the handler
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")

    # WHEN more invocations run than Powertools keeps values of one metric before it prints them by itself (100)
    for index in range(101):
        harness.invoke(sqs_event(item(f"sku-{index}")))

    # THEN no EMF document is printed
    assert emitted(capsys.readouterr().out) == []
