"""The pipeline's CloudWatch dashboard, one function per row, top to bottom.

It answers three questions at a glance (docs/design.md, "Monitoring"): is the pipeline keeping up (queue depth,
age of the oldest message, Lambda health), what does it reject (dead-lettered records per reason, the DLQ's
depth), and how is Personalize answering (calls, throttles, errors, latency). Rows: the title; the alarms; the
queues; the Lambda; the records (received, accepted, dead-lettered, left for redelivery); Personalize; what went
wrong in the setup or the code; and how well calls are filled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from aws_cdk import CfnResource, Fn
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from contract import APIS, KIND_NAMES, Dimension, ErrorCode, Metric
from stacks.config.alarms import AlarmThresholds
from stacks.monitoring.metrics import GRAPH_PERIOD, PipelineMetrics

DASHBOARD_WIDTH: Final = 24
# Powertools' own cold start metric (log_metrics(capture_cold_start_metric=True)) and its dimension.
COLD_START_METRIC: Final = "ColdStart"
COLD_START_DIMENSION: Final = "function_name"

# The dead-letter codes as plain strings: a label is handed to the CDK as is, and jsii takes an Enum for one of its own.
DEAD_LETTER_CODES: Final[tuple[str, ...]] = tuple(str(code) for code in ErrorCode)

Row = list[cloudwatch.IWidget]


def pipeline_dashboard(
    scope: Construct,
    metrics: PipelineMetrics,
    *,
    alarms: Sequence[cloudwatch.IAlarm],
    thresholds: AlarmThresholds,
) -> cloudwatch.Dashboard:
    """Create the dashboard in ``scope``: the alarms' status on top, then the pipeline from queue to Personalize."""
    dashboard = cloudwatch.Dashboard(
        scope,
        "Dashboard",
        # A name on-call can find without the console's search: the stack's, plus the region, because dashboard
        # names are unique per account across regions and one stack may be deployed to several.
        dashboard_name=Fn.sub("${AWS::StackName}-${AWS::Region}"),
        # The graphs are per minute; over a long time range CloudWatch widens the period itself.
        period_override=cloudwatch.PeriodOverride.AUTO,
        widgets=[
            _title_row(metrics),
            [cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(alarms), width=DASHBOARD_WIDTH, height=3)],
            _queue_row(metrics, thresholds),
            _lambda_row(metrics),
            _records_row(metrics),
            _personalize_row(metrics),
            _errors_row(metrics),
            _call_fill_row(metrics),
        ],
    )
    # CDK renders a dashboard body that names resources as one Fn::Join of JSON fragments, which cfn-lint
    # flags (I1022: prefer Fn::Sub); an Fn::Sub of the same JSON would need every "${" of the body escaped.
    dashboard_resource = dashboard.node.default_child
    if isinstance(dashboard_resource, CfnResource):
        dashboard_resource.add_metadata("cfn-lint", {"config": {"ignore_checks": ["I1022"]}})
    return dashboard


def _title_row(metrics: PipelineMetrics) -> Row:
    return [
        cloudwatch.TextWidget(
            markdown=(
                "# Personalize ingest pipeline\n"
                "Is it keeping up? The ingest queue's depth and oldest message. "
                "What does it reject? Dead-lettered records per reason, and the dead-letter queue. "
                f"Repair: `python -m tools.dlq inspect --dlq-url {metrics.dead_letter_queue.queue_url}`. "
                "What each alarm means and what to do: the README, 'Operating it'."
            ),
            width=DASHBOARD_WIDTH,
            height=2,
        ),
    ]


def _queue_row(metrics: PipelineMetrics, thresholds: AlarmThresholds) -> Row:
    queue = metrics.queue
    return [
        _graph(
            "Ingest queue: messages waiting and being processed",
            [
                queue.metric_approximate_number_of_messages_visible(
                    statistic=cloudwatch.Stats.MAXIMUM, period=GRAPH_PERIOD, label="Waiting"
                ),
                queue.metric_approximate_number_of_messages_not_visible(
                    statistic=cloudwatch.Stats.MAXIMUM, period=GRAPH_PERIOD, label="Being processed"
                ),
            ],
        ),
        _graph(
            "Ingest queue: age of the oldest message (is the pipeline keeping up?)",
            [metrics.oldest_message_age(label="Oldest message (seconds)")],
            threshold=(thresholds.max_message_age_seconds, "Falling behind"),
        ),
        _graph(
            "Dead-letter queue: messages waiting for repair",
            [metrics.dead_letter_depth(GRAPH_PERIOD)],
            threshold=(thresholds.dead_letter_messages, "Alarm"),
        ),
    ]


def _lambda_row(metrics: PipelineMetrics) -> Row:
    function = metrics.function
    return [
        _graph(
            "Ingest Lambda: invocations, errors and throttles",
            [
                function.metric(name, statistic=cloudwatch.Stats.SUM, period=GRAPH_PERIOD, label=name)
                for name in ("Invocations", "Errors", "Throttles")
            ],
            width=6,
        ),
        _graph(
            "Ingest Lambda: duration per invocation (ms)",
            [
                function.metric_duration(statistic=stat, period=GRAPH_PERIOD, label=label)
                for stat, label in (("p50", "Median"), ("p99", "p99"), (cloudwatch.Stats.MAXIMUM, "Longest"))
            ],
            width=6,
        ),
        _graph(
            "Ingest Lambda: concurrent executions",
            [
                function.metric(
                    "ConcurrentExecutions",
                    statistic=cloudwatch.Stats.MAXIMUM,
                    period=GRAPH_PERIOD,
                    label="Concurrent executions",
                )
            ],
            width=6,
        ),
        _graph(
            "Ingest Lambda: cold starts",
            [
                metrics.custom(
                    COLD_START_METRIC,
                    label="Cold starts",
                    dimensions={COLD_START_DIMENSION: function.function_name},
                )
            ],
            width=6,
        ),
    ]


def _records_row(metrics: PipelineMetrics) -> Row:
    return [
        _graph(
            "Records received, per kind",
            [
                metrics.custom(Metric.RECORDS_RECEIVED, label=kind, dimensions={Dimension.KIND: kind})
                for kind in KIND_NAMES
            ],
            width=6,
        ),
        _graph(
            "Records accepted by Personalize, per API",
            [metrics.custom(Metric.RECORDS_ACCEPTED, label=api, dimensions={Dimension.API: api}) for api in APIS],
            width=6,
        ),
        _graph(
            "Records dead-lettered, per reason",
            [
                metrics.custom(Metric.RECORDS_DEAD_LETTERED, label=code, dimensions={Dimension.ERROR_CODE: code})
                for code in DEAD_LETTER_CODES
            ],
            width=6,
        ),
        _graph(
            "Records left for SQS to redeliver (retried later)",
            [metrics.custom(Metric.RECORDS_FAILED, label="Left for redelivery")],
            width=6,
        ),
    ]


def _personalize_row(metrics: PipelineMetrics) -> Row:
    return [
        _graph(
            "Personalize calls, per API",
            [metrics.custom(Metric.API_CALLS, label=api, dimensions={Dimension.API: api}) for api in APIS],
            width=6,
        ),
        _graph(
            "Personalize throttling and retries, per API",
            [
                *(
                    metrics.custom(Metric.THROTTLED_CALLS, label=f"{api} throttled", dimensions={Dimension.API: api})
                    for api in APIS
                ),
                *(
                    metrics.custom(Metric.RETRIES, label=f"{api} retried", dimensions={Dimension.API: api})
                    for api in APIS
                ),
            ],
            width=6,
        ),
        _graph(
            "Personalize errors, per API and error code",
            [
                metrics.search(
                    Metric.API_ERRORS,
                    (Dimension.API, Dimension.ERROR_CODE),
                    label="${PROP('Dim.Api')} ${PROP('Dim.ErrorCode')}",
                )
            ],
            width=6,
        ),
        _graph(
            "Personalize call latency, per API (p99, ms)",
            [
                metrics.custom(Metric.API_LATENCY, statistic="p99", label=api, dimensions={Dimension.API: api})
                for api in APIS
            ],
            width=6,
        ),
    ]


def _errors_row(metrics: PipelineMetrics) -> Row:
    return [
        _graph(
            "Setup errors (dataset gone or access denied), per error code",
            [metrics.search(Metric.SETUP_ERRORS, (Dimension.ERROR_CODE,), label="${PROP('Dim.ErrorCode')}")],
        ),
        _graph(
            # The handler never crashes on one record: a bug it meets is counted here and the record retried
            # (it reaches the DLQ as RetriesExhausted with the exception's message).
            "Unexpected errors in the ingest code (a bug; records retried), per exception type",
            [metrics.search(Metric.UNEXPECTED_ERRORS, (Dimension.ERROR_TYPE,), label="${PROP('Dim.ErrorType')}")],
        ),
        _graph(
            "Records per invocation (batch size)",
            [
                metrics.custom(Metric.BATCH_SIZE, statistic=cloudwatch.Stats.AVERAGE, label="Average"),
                metrics.custom(Metric.BATCH_SIZE, statistic=cloudwatch.Stats.MAXIMUM, label="Largest"),
            ],
        ),
    ]


def _call_fill_row(metrics: PipelineMetrics) -> Row:
    return [
        _graph(
            # Ten is the most a call takes (docs/personalize.md §1): lower means batches are small or bisected.
            "Records per Personalize call, per API (average)",
            [
                metrics.custom(
                    Metric.RECORDS_PER_CALL,
                    statistic=cloudwatch.Stats.AVERAGE,
                    label=api,
                    dimensions={Dimension.API: api},
                )
                for api in APIS
            ],
        ),
        _graph(
            "Older changes skipped for a newer one in the same batch, per API",
            [metrics.custom(Metric.RECORDS_SUPERSEDED, label=api, dimensions={Dimension.API: api}) for api in APIS],
        ),
        _graph(
            "Calls split to isolate rejected records, per API",
            [metrics.custom(Metric.BISECTIONS, label=api, dimensions={Dimension.API: api}) for api in APIS],
        ),
    ]


def _graph(
    title: str,
    metrics: Sequence[cloudwatch.IMetric],
    *,
    width: int = 8,
    threshold: tuple[float, str] | None = None,
) -> cloudwatch.GraphWidget:
    annotations = (
        [cloudwatch.HorizontalAnnotation(value=threshold[0], label=threshold[1], color=cloudwatch.Color.RED)]
        if threshold
        else None
    )
    return cloudwatch.GraphWidget(
        title=title,
        left=list(metrics),
        width=width,
        height=6,
        left_annotations=annotations,
        # Counts start at zero; an axis that starts at the smallest value makes noise look like a cliff.
        left_y_axis=cloudwatch.YAxisProps(min=0),
    )
