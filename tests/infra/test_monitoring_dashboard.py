"""The monitoring construct's dashboard, and the custom metrics it graphs and alarms on against the contract's.

Every metric the ingest handler emits is a ``contract.Metric`` (Powertools adds ``ColdStart``): the dashboard must
graph each of them and graph or watch nothing else, or a graph stays empty and an alarm silent with nothing failing
anywhere. The stacks under test are ``tests.infra.monitoring_stacks``' (synthesized once per session).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from contract import APIS, KIND_NAMES, Dimension, ErrorCode, Metric
from tests.infra.monitoring_stacks import (
    NAMESPACE,
    SERVICE,
    TUNED_NAMESPACE,
    TUNED_SERVICE,
    Synthesized,
    used_metrics,
)

# Powertools' own metric (log_metrics(capture_cold_start_metric=True)), with its own dimension.
COLD_START = ("ColdStart", frozenset({"function_name", "service"}))
EMITTED_NAMES = frozenset({*(str(metric) for metric in Metric), COLD_START[0]})
# The dimensions a custom metric may carry: the contract's, and Powertools' service and function_name.
DIMENSION_NAMES = frozenset({*(str(dimension) for dimension in Dimension), *COLD_START[1]})
DEAD_LETTER_CODES = tuple(str(code) for code in ErrorCode)


@pytest.fixture(scope="module")
def defaults(monitoring_stacks: dict[str, Synthesized]) -> Synthesized:
    return monitoring_stacks["Defaults"]


@pytest.fixture(scope="module")
def tuned(monitoring_stacks: dict[str, Synthesized]) -> Synthesized:
    return monitoring_stacks["Tuned"]


# --- dashboard ----------------------------------------------------------------------------------------------------

QUEUE_TITLES = (
    "Ingest queue: messages waiting and being processed",
    "Ingest queue: age of the oldest message (is the pipeline keeping up?)",
    "Dead-letter queue: messages waiting for repair",
)
LAMBDA_TITLES = (
    "Ingest Lambda: invocations, errors and throttles",
    "Ingest Lambda: duration per invocation (ms)",
    "Ingest Lambda: concurrent executions",
    "Ingest Lambda: cold starts",
)


def _metric_names(widget: dict[str, Any]) -> list[str]:
    """The metric names of a graph widget's plain metrics (rows of [namespace, name, dim, value, ...])."""
    return [row[1] for row in widget["properties"]["metrics"] if isinstance(row[0], str) and row[0] != "..."]


def test_dashboard_default_config_has_every_widget_with_a_human_title(defaults: Synthesized) -> None:
    titles = [w["properties"].get("title") for w in defaults.dashboard()["widgets"] if w["type"] == "metric"]

    for title in (*QUEUE_TITLES, *LAMBDA_TITLES):
        assert title in titles
    assert all(title and " " in title for title in titles)  # sentences, not metric names


def test_dashboard_default_config_named_after_stack_and_region(defaults: Synthesized) -> None:
    defaults.template.has_resource_properties(
        "AWS::CloudWatch::Dashboard", {"DashboardName": {"Fn::Sub": "${AWS::StackName}-${AWS::Region}"}}
    )


def test_dashboard_default_config_starts_with_alarm_status_of_every_alarm(defaults: Synthesized) -> None:
    widgets = defaults.dashboard()["widgets"]
    (status,) = [w for w in widgets if w["type"] == "alarm"]

    assert status["properties"]["title"] == "Alarms"
    assert len(status["properties"]["alarms"]) == 5
    assert widgets.index(status) <= 1  # at the top: the first thing on-call sees


def test_dashboard_default_config_queue_widgets_watch_ingest_queue_and_dlq(defaults: Synthesized) -> None:
    depth = defaults.widget(QUEUE_TITLES[0])
    age = defaults.widget(QUEUE_TITLES[1])
    dlq = defaults.widget(QUEUE_TITLES[2])

    assert _metric_names(depth) == ["ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible"]
    assert f"<{defaults.queue_id}.QueueName>" in json.dumps(depth)
    assert _metric_names(age) == ["ApproximateAgeOfOldestMessage"]
    assert age["properties"]["annotations"]["horizontal"][0]["value"] == 900
    assert f"<{defaults.dlq_id}.QueueName>" in json.dumps(dlq)


def test_dashboard_default_config_lambda_widgets_watch_the_function(defaults: Synthesized) -> None:
    assert _metric_names(defaults.widget(LAMBDA_TITLES[0])) == ["Invocations", "Errors", "Throttles"]
    assert _metric_names(defaults.widget(LAMBDA_TITLES[1])) == ["Duration"] * 3
    assert _metric_names(defaults.widget(LAMBDA_TITLES[2])) == ["ConcurrentExecutions"]
    assert f"<Ref:{defaults.function_id}>" in json.dumps(defaults.widget(LAMBDA_TITLES[0]))


@pytest.mark.parametrize(
    ("title", "metric_name", "dimension", "values"),
    [
        ("Records received, per kind", "RecordsReceived", "Kind", KIND_NAMES),
        ("Records accepted by Personalize, per API", "RecordsAccepted", "Api", APIS),
        ("Records dead-lettered, per reason", "RecordsDeadLettered", "ErrorCode", DEAD_LETTER_CODES),
        ("Personalize calls, per API", "ApiCalls", "Api", APIS),
        ("Personalize call latency, per API (p99, ms)", "ApiLatency", "Api", APIS),
        ("Calls split to isolate rejected records, per API", "Bisections", "Api", APIS),
        ("Older changes skipped for a newer one in the same batch, per API", "RecordsSuperseded", "Api", APIS),
        ("Records per Personalize call, per API (average)", "RecordsPerCall", "Api", APIS),
    ],
)
def test_dashboard_default_config_custom_metric_widget_one_line_per_value_with_service(
    defaults: Synthesized, title: str, metric_name: str, dimension: str, values: tuple[str, ...]
) -> None:
    rows = defaults.widget(title)["properties"]["metrics"]

    assert [row[:2] for row in rows] == [[NAMESPACE, metric_name]] * len(values)
    for row, value in zip(rows, values, strict=True):
        dimensions = dict(zip(row[2:-1:2], row[3:-1:2], strict=True))
        assert dimensions == {dimension: value, "service": SERVICE}


def test_dashboard_default_config_open_ended_error_codes_found_by_search(defaults: Synthesized) -> None:
    for title, metric_name in (
        ("Personalize errors, per API and error code", "ApiErrors"),
        ("Setup errors (dataset gone or access denied), per error code", "SetupErrors"),
        ("Unexpected errors in the ingest code (a bug; records retried), per exception type", "UnexpectedErrors"),
    ):
        (row,) = defaults.widget(title)["properties"]["metrics"]
        expression = row[0]["expression"]
        assert expression.startswith(f"SEARCH('{{{NAMESPACE},")
        assert f'MetricName="{metric_name}" service="{SERVICE}"' in expression


def test_dashboard_default_config_batch_size_failed_and_cold_starts_shown(defaults: Synthesized) -> None:
    assert _metric_names(defaults.widget("Records per invocation (batch size)")) == ["BatchSize", "BatchSize"]
    assert _metric_names(defaults.widget("Records left for SQS to redeliver (retried later)")) == ["RecordsFailed"]
    cold = json.dumps(defaults.widget("Ingest Lambda: cold starts"))
    assert '"ColdStart"' in cold
    assert '"function_name"' in cold


def test_dashboard_and_alarms_default_config_use_only_metrics_the_ingest_lambda_emits(defaults: Synthesized) -> None:
    graphed, watched, services = used_metrics(defaults, NAMESPACE)

    # A name or dimension the Lambda does not emit would be an empty graph or an alarm that never fires.
    assert {name for name, _ in graphed | watched} - EMITTED_NAMES == set()
    assert {key for _, keys in graphed | watched for key in keys} - DIMENSION_NAMES == set()
    assert all("service" in keys for _, keys in graphed | watched)
    assert services == {SERVICE}
    assert {name for name, _ in watched} == {"SetupErrors", "ThrottledCalls"}


def test_dashboard_default_config_graphs_every_metric_the_ingest_lambda_emits(defaults: Synthesized) -> None:
    graphed, _, _ = used_metrics(defaults, NAMESPACE)

    assert EMITTED_NAMES - {name for name, _ in graphed} == set()
    assert COLD_START in graphed


def test_dashboard_and_alarms_tuned_config_use_the_given_namespace_and_service(
    tuned: Synthesized, defaults: Synthesized
) -> None:
    graphed, watched, services = used_metrics(tuned, TUNED_NAMESPACE)
    default_graphed, default_watched, _ = used_metrics(tuned, NAMESPACE)

    assert graphed == used_metrics(defaults, NAMESPACE)[0]
    assert {name for name, _ in watched} == {"SetupErrors", "ThrottledCalls"}
    assert services == {TUNED_SERVICE}
    assert default_graphed | default_watched == set()
