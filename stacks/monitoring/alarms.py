"""The pipeline's alarms: they wake someone when it stops or rejects records.

DLQ not empty, oldest message too old, Lambda errors, setup errors and sustained throttling (docs/design.md,
"Monitoring"). Each alarm is named ``<stack name>-<alarm>`` and its description says what it means and where the
runbook is, so the person paged knows where to start.
"""

from __future__ import annotations

from typing import Any, Final

from aws_cdk import Fn
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from contract import Dimension, Metric
from stacks.config.alarms import AlarmThresholds
from stacks.monitoring.metrics import COUNT_PERIOD, GRAPH_PERIOD, PipelineMetrics

# The age alarm needs this many consecutive one-minute datapoints over the threshold: the metric is approximate
# (SQS is distributed), and one noisy datapoint should not page anyone.
AGE_DATAPOINTS: Final = 3
# Where the alarm descriptions send the person paged: the README's runbook.
RUNBOOK: Final = "Runbook: README, 'Operating it'."
_AT_LEAST: Final = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
# For most alarms missing data means "nothing happened": Lambda publishes nothing without invocations, the handler
# emits a counter only when it is not zero, and SQS publishes a queue's metrics only while the queue is active.
# Treating it as breaching would page for a quiet night; ignoring it would leave an alarm stuck in ALARM after the
# last bad datapoint, since nothing else would come to clear it.
_QUIET: Final = cloudwatch.TreatMissingData.NOT_BREACHING


def pipeline_alarms(scope: Construct, metrics: PipelineMetrics, thresholds: AlarmThresholds) -> list[cloudwatch.Alarm]:
    """Create the pipeline's five alarms in ``scope``, in the order the dashboard lists them."""
    return [
        _dead_letter_queue_not_empty(scope, metrics, thresholds),
        _ingest_falling_behind(scope, metrics, thresholds),
        _function_errors(scope, metrics, thresholds),
        _setup_errors(scope, metrics, thresholds),
        _sustained_throttling(scope, metrics, thresholds),
    ]


def _alarm(scope: Construct, alarm_id: str, **props: Any) -> cloudwatch.Alarm:
    """An alarm named ``<stack name>-<alarm_id>``.

    Without a name CloudFormation generates one from the logical id and a random suffix, which the runbook
    cannot name and which changes when the alarm is replaced. Alarm names are unique per account and Region,
    and so are stack names, so the stack name keeps two deployments of this construct apart.
    """
    return cloudwatch.Alarm(scope, alarm_id, alarm_name=Fn.sub(f"${{AWS::StackName}}-{alarm_id}"), **props)


def _dead_letter_queue_not_empty(
    scope: Construct, metrics: PipelineMetrics, thresholds: AlarmThresholds
) -> cloudwatch.Alarm:
    return _alarm(
        scope,
        "DeadLetterQueueNotEmpty",
        alarm_description=Fn.sub(
            "Records are waiting in the ingest pipeline's dead-letter queue: Personalize never got them. "
            "See why with `python -m tools.dlq inspect --dlq-url ${DeadLetterQueueUrl}`; after a fix, "
            f"`redrive` or `replay` them. {RUNBOOK}",
            {"DeadLetterQueueUrl": metrics.dead_letter_queue.queue_url},
        ),
        metric=metrics.dead_letter_depth(GRAPH_PERIOD),
        threshold=thresholds.dead_letter_messages,
        comparison_operator=_AT_LEAST,
        evaluation_periods=1,
        # Not "quiet": the DLQ is the one queue whose silence can hide records. "CloudWatch considers a
        # queue to be active for up to six hours if it contains any messages or if any action accesses it"
        # (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/
        # sqs-monitoring-using-cloudwatch.html), so a DLQ nobody touches may stop publishing while records still
        # sit in it, and "not breaching" would then send "OK" for a problem nobody fixed. Ignored, missing
        # data keeps the alarm in its state; a drained DLQ (DeleteMessage is an action) publishes 0 and
        # returns it to OK.
        treat_missing_data=cloudwatch.TreatMissingData.IGNORE,
    )


def _ingest_falling_behind(scope: Construct, metrics: PipelineMetrics, thresholds: AlarmThresholds) -> cloudwatch.Alarm:
    return _alarm(
        scope,
        "IngestFallingBehind",
        alarm_description=(
            f"The ingest queue's oldest message is over {thresholds.max_message_age_seconds} seconds old: the "
            "pipeline is falling behind or has stopped. Check the Lambda's errors and throttles, setup "
            f"errors and the event source mapping on the dashboard. {RUNBOOK}"
        ),
        metric=metrics.oldest_message_age(),
        threshold=thresholds.max_message_age_seconds,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=AGE_DATAPOINTS,
        datapoints_to_alarm=AGE_DATAPOINTS,
        treat_missing_data=_QUIET,
    )


def _function_errors(scope: Construct, metrics: PipelineMetrics, thresholds: AlarmThresholds) -> cloudwatch.Alarm:
    return _alarm(
        scope,
        "FunctionErrors",
        alarm_description=(
            "The ingest Lambda failed whole invocations (a crash, a timeout or an invalid environment); "
            "their messages are redelivered and, past maxReceiveCount, dead-lettered without an ErrorCode. "
            f"Read the function's log. {RUNBOOK}"
        ),
        metric=metrics.function.metric_errors(statistic=cloudwatch.Stats.SUM, period=COUNT_PERIOD),
        threshold=thresholds.function_errors,
        comparison_operator=_AT_LEAST,
        evaluation_periods=1,
        treat_missing_data=_QUIET,
    )


def _setup_errors(scope: Construct, metrics: PipelineMetrics, thresholds: AlarmThresholds) -> cloudwatch.Alarm:
    return _alarm(
        scope,
        "SetupErrors",
        alarm_description=(
            "Personalize answered ResourceNotFound or AccessDenied: a dataset is gone or the function's "
            "policy is wrong. Records are retried, not dead-lettered, until it is fixed or maxReceiveCount "
            f"is reached. {RUNBOOK}"
        ),
        metric=metrics.total(Metric.SETUP_ERRORS, Dimension.ERROR_CODE, label="Setup errors", period=COUNT_PERIOD),
        threshold=thresholds.setup_errors,
        comparison_operator=_AT_LEAST,
        evaluation_periods=1,
        treat_missing_data=_QUIET,
    )


def _sustained_throttling(scope: Construct, metrics: PipelineMetrics, thresholds: AlarmThresholds) -> cloudwatch.Alarm:
    return _alarm(
        scope,
        "SustainedThrottling",
        alarm_description=(
            f"Personalize has throttled the pipeline for {thresholds.throttled_periods} five-minute periods "
            "in a row: something else shares the dataset group's Put* quota, or maxConcurrency is too high. "
            f"{RUNBOOK}"
        ),
        metric=metrics.total(Metric.THROTTLED_CALLS, Dimension.API, label="Throttled calls", period=COUNT_PERIOD),
        threshold=thresholds.throttled_calls,
        comparison_operator=_AT_LEAST,
        evaluation_periods=thresholds.throttled_periods,
        datapoints_to_alarm=thresholds.throttled_periods,
        treat_missing_data=_QUIET,
    )
