"""The pipeline's monitoring: a CloudWatch dashboard for the on-call engineer, and alarms that notify an SNS topic.

DESIGN.md "Monitoring". The dashboard answers three questions at a glance: is the pipeline keeping up (queue depth,
age of the oldest message, Lambda health), what does it reject (dead-lettered records per reason, the DLQ's depth),
and how is Personalize answering (calls, throttles, errors, latency). The alarms wake someone when it stops or
rejects: DLQ not empty, oldest message too old, Lambda errors, setup errors and sustained throttling.

The custom metrics are the ones ``lambdas/ingest`` publishes through Powertools EMF (``ingest.telemetry`` and
``ingest.handler``): every one carries Powertools' ``service`` dimension on top of its own.
``tests/infra/test_monitoring.py`` reads the names and dimensions the Lambda's code emits and fails when this
construct graphs or alarms on one it does not emit, or leaves one out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Final

from aws_cdk import CfnResource, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

# The values the ingest Lambda uses as metric dimensions. They mirror its own tables (ingest.kinds.KINDS,
# ingest.errors.ErrorCode); tests/infra/test_monitoring.py fails when the two drift apart.
KINDS: Final[tuple[str, ...]] = ("item", "action", "user", "event", "actionInteraction")
APIS: Final[tuple[str, ...]] = ("PutItems", "PutActions", "PutUsers", "PutEvents", "PutActionInteractions")
DEAD_LETTER_CODES: Final[tuple[str, ...]] = (
    "MalformedMessage",
    "SchemaViolation",
    "DatasetNotConfigured",
    "InvalidInput",
    "RetriesExhausted",
)

# SQS publishes its queue metrics once a minute; the Lambda and EMF metrics are standard resolution (1 minute).
GRAPH_PERIOD: Final = Duration.minutes(1)
# Counting alarms sum over five minutes: long enough that one datapoint is not a single unlucky batch, short enough
# that a page goes out within minutes.
COUNT_PERIOD: Final = Duration.minutes(5)
# CloudWatch evaluates an alarm on a Metrics Insights query with "only the latest 3 hours of data"
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html). Such an alarm whose
# EvaluationPeriods x Period reaches further back never gets the datapoints it needs, so it can never fire.
METRICS_INSIGHTS_ALARM_WINDOW: Final = Duration.hours(3)
# SustainedThrottling is such an alarm, summed per COUNT_PERIOD: 3 h / 5 min = 36 consecutive periods at most.
# (PutMetricAlarm's own bound, a day of evaluation, is looser.)
MAX_THROTTLED_PERIODS: Final = int(METRICS_INSIGHTS_ALARM_WINDOW.to_seconds() // COUNT_PERIOD.to_seconds())
# The age alarm needs this many consecutive one-minute datapoints over the threshold: the metric is approximate
# (SQS is distributed), and one noisy datapoint should not page anyone.
AGE_DATAPOINTS: Final = 3
# CloudWatch alarms publish to an SNS topic as this service principal; with a KMS-encrypted topic it also needs
# kms:GenerateDataKey* and kms:Decrypt on the key, which AWS managed keys (alias/aws/sns) cannot grant
# (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
CLOUDWATCH_PRINCIPAL: Final = "cloudwatch.amazonaws.com"
DASHBOARD_WIDTH: Final = 24
# Where the alarm descriptions send the person paged: the README's runbook.
RUNBOOK: Final = "Runbook: README, 'Operating it'."
# The characters CloudWatch allows in a namespace (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/
# API_Metric.html), minus the space: enough for a namespace and a service name, and nothing that needs quoting.
_METRIC_NAME: Final = re.compile(r"[A-Za-z0-9._/#:-]{1,255}")


@dataclass(frozen=True)
class AlarmThresholds:
    """When the alarms fire. The defaults suit the default configuration (batch size 10, maximum concurrency 2).

    Parameters
    ----------
    max_message_age_seconds
        The ingest queue's oldest message may be this old before the pipeline counts as falling behind
        (three consecutive minutes over it). 15 minutes: a healthy pipeline takes seconds; a retried message
        reappears after the visibility timeout (6 minutes with the default 60 s function), and SQS leaves a
        message received three times or more out of this metric, so a quarter of an hour means a stall or a
        backlog the quota cannot absorb.
    dead_letter_messages
        Messages in the dead-letter queue (waiting or being inspected) that raise the alarm: 1, any.
    function_errors
        Failed invocations per five minutes. The handler never raises for a bad record, so any error is a crash,
        a timeout or an invalid environment.
    setup_errors
        ResourceNotFound / AccessDenied answers per five minutes: the dataset is gone or the policy is wrong.
    throttled_calls
        Personalize calls answered with throttling per five minutes ...
    throttled_periods
        ... for this many consecutive five-minute periods. The handler retries throttled calls and paces itself,
        so short bursts are absorbed; throttling that lasts means the quota is shared with someone else or the
        maximum concurrency is too high. At most 36 (:data:`MAX_THROTTLED_PERIODS`, three hours): the alarm
        watches a Metrics Insights query, and CloudWatch evaluates those on the latest three hours of data only.
    """

    max_message_age_seconds: int = 900
    dead_letter_messages: int = 1
    function_errors: int = 1
    setup_errors: int = 1
    throttled_calls: int = 50
    throttled_periods: int = 3

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"AlarmThresholds.{field.name} must be a positive integer, got {value!r}")
        # Beyond the window the alarm could never fire (see METRICS_INSIGHTS_ALARM_WINDOW): refuse it at synth.
        if self.throttled_periods > MAX_THROTTLED_PERIODS:
            raise ValueError(
                f"AlarmThresholds.throttled_periods must be at most {MAX_THROTTLED_PERIODS}, "
                f"got {self.throttled_periods}"
            )


class PipelineMonitoring(Construct):
    """A dashboard and alarms for the ingest pipeline, notifying a KMS-encrypted SNS topic.

    Parameters
    ----------
    scope, construct_id
        The usual construct parameters.
    queue
        The ingest queue (depth, age of the oldest message).
    dead_letter_queue
        The dead-letter queue (depth, the "not empty" alarm).
    function
        The ingest Lambda (invocations, errors, throttles, duration, concurrency).
    namespace
        The CloudWatch namespace of the Lambda's EMF metrics: the function's ``POWERTOOLS_METRICS_NAMESPACE``.
    service
        The value of the ``service`` dimension Powertools adds to each metric: the function's
        ``POWERTOOLS_SERVICE_NAME``.
    thresholds
        When the alarms fire; :class:`AlarmThresholds` defaults when omitted.
    alarm_email
        An address to subscribe to the topic (SNS sends it a confirmation first); none when omitted.

    Attributes
    ----------
    topic
        The SNS topic every alarm notifies, on ALARM and on OK.
    key
        The KMS key the topic is encrypted with.
    dashboard
        The CloudWatch dashboard.
    alarms
        Every alarm, in the order they are listed on the dashboard. Each is named ``<stack name>-<construct id>``
        (``PersonalizeIngest-DeadLetterQueueNotEmpty``), so the names in the runbook are the names in the console.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        function: lambda_.IFunction,
        namespace: str,
        service: str,
        thresholds: AlarmThresholds | None = None,
        alarm_email: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        for name, value in (("namespace", namespace), ("service", service)):
            # They are quoted inside Metrics Insights and SEARCH expressions: a quote would break the query.
            if not _METRIC_NAME.fullmatch(value):
                raise ValueError(f"PipelineMonitoring: {name} must match {_METRIC_NAME.pattern}, got {value!r}")
        self._queue = queue
        self._dead_letter_queue = dead_letter_queue
        self._function = function
        self._namespace = namespace
        self._service = service
        self._thresholds = thresholds or AlarmThresholds()

        self.key, self.topic = self._encrypted_topic()
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.alarms = self._alarms()
        action = cloudwatch_actions.SnsAction(self.topic)
        for alarm in self.alarms:
            alarm.add_alarm_action(action)
            # OK too: the person who was woken learns, without looking, that it recovered.
            alarm.add_ok_action(action)
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            # A name on-call can find without the console's search: the stack's, plus the region, because dashboard
            # names are unique per account across regions and one stack may be deployed to several.
            dashboard_name=Fn.sub("${AWS::StackName}-${AWS::Region}"),
            # The graphs are per minute; over a long time range CloudWatch widens the period itself.
            period_override=cloudwatch.PeriodOverride.AUTO,
            widgets=self._widgets(),
        )
        # CDK renders a dashboard body that names resources as one Fn::Join of JSON fragments, which cfn-lint
        # flags (I1022: prefer Fn::Sub); an Fn::Sub of the same JSON would need every "${" of the body escaped.
        dashboard_resource = self.dashboard.node.default_child
        if isinstance(dashboard_resource, CfnResource):
            dashboard_resource.add_metadata("cfn-lint", {"config": {"ignore_checks": ["I1022"]}})

    # --- the topic -------------------------------------------------------------------------------------------

    def _encrypted_topic(self) -> tuple[kms.Key, sns.Topic]:
        # ARNs are single Fn::Subs rather than CDK's token concatenations (Fn::Join), which cfn-lint flags (I1022).
        # CloudWatch may act for alarms of this account and region only (confused-deputy protection).
        from_our_alarms = {
            "StringEquals": {"aws:SourceAccount": Stack.of(self).account},
            "ArnLike": {
                "aws:SourceArn": Fn.sub("arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*")
            },
        }
        key_policy = iam.PolicyDocument(
            statements=[
                # CDK's default key policy, spelled out: the account's IAM policies decide who administers and
                # uses the key, so the key cannot become unmanageable.
                iam.PolicyStatement(
                    sid="AllowTheAccountsIamPolicies",
                    principals=[iam.ArnPrincipal(Fn.sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root"))],
                    actions=["kms:*"],
                    resources=["*"],  # in a key policy, "*" is this key
                ),
                iam.PolicyStatement(
                    sid="AllowCloudWatchAlarmsToUseTheKey",
                    principals=[iam.ServicePrincipal(CLOUDWATCH_PRINCIPAL)],
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],
                    conditions=from_our_alarms,
                ),
            ]
        )
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description="Encrypts the Personalize ingest pipeline's alarm notifications (SNS)",
            enable_key_rotation=True,
            policy=key_policy,
            # The key protects notifications in transit through SNS only; nothing stored outlives the stack, so
            # the key goes with it (after KMS's shortest waiting period) instead of costing a month forever.
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name="Personalize ingest alarms",
            master_key=key,
            enforce_ssl=True,
        )
        # A topic policy replaces SNS's default one (which lets the account's principals publish), and
        # enforce_ssl adds one; CloudWatch must therefore be allowed explicitly.
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal(CLOUDWATCH_PRINCIPAL)],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions=from_our_alarms,
            )
        )
        return key, topic

    # --- metrics -----------------------------------------------------------------------------------------------

    def _metric(
        self,
        name: str,
        *,
        statistic: str = cloudwatch.Stats.SUM,
        label: str | None = None,
        period: Duration = GRAPH_PERIOD,
        **dimensions: str,
    ) -> cloudwatch.Metric:
        """One of the Lambda's EMF metrics, with its own dimensions and Powertools' ``service``."""
        return cloudwatch.Metric(
            namespace=self._namespace,
            metric_name=name,
            dimensions_map={**dimensions, "service": self._service},
            statistic=statistic,
            period=period,
            label=label,
        )

    def _total(self, name: str, dimension: str, *, label: str, period: Duration) -> cloudwatch.MathExpression:
        """The sum of ``name`` over every value of ``dimension``, as one series an alarm can watch.

        A Metrics Insights query rather than a sum of known metrics: the values are open-ended (SetupErrors counts
        any 403 answer's error code), and a code nobody listed must still raise the alarm.
        """
        # Not SQL and not user input: a CloudWatch query from this construct's own, checked names.
        source = f'SCHEMA("{self._namespace}", {dimension}, service)'
        query = f"SELECT SUM({name}) FROM {source} WHERE service = '{self._service}'"  # noqa: S608
        return cloudwatch.MathExpression(expression=query, using_metrics={}, label=label, period=period)

    def _search(self, name: str, dimensions: Sequence[str], *, label: str) -> cloudwatch.MathExpression:
        """Every series of ``name`` (one line per dimension value, summed per minute), for a graph.

        The values are open-ended (any error code the service returns), so a fixed list of metrics would miss
        some. SEARCH is for graphs only (alarms cannot use it); ``label`` may use dynamic labels (``${PROP(...)}``).
        """
        keys = ",".join([*dimensions, "service"])
        query = (
            f'SEARCH(\'{{{self._namespace},{keys}}} MetricName="{name}" service="{self._service}"\', '
            f"'Sum', {int(GRAPH_PERIOD.to_seconds())})"
        )
        return cloudwatch.MathExpression(expression=query, using_metrics={}, label=label, period=GRAPH_PERIOD)

    def _dead_letter_depth(self, period: Duration) -> cloudwatch.MathExpression:
        # Waiting plus in flight: the DLQ tool holds messages invisible while it reads them, and the alarm should
        # not flap to OK (and back, paging again) because someone is inspecting the queue.
        return cloudwatch.MathExpression(
            expression="waiting + inFlight",
            using_metrics={
                "waiting": self._dead_letter_queue.metric_approximate_number_of_messages_visible(
                    statistic=cloudwatch.Stats.MAXIMUM, period=period
                ),
                "inFlight": self._dead_letter_queue.metric_approximate_number_of_messages_not_visible(
                    statistic=cloudwatch.Stats.MAXIMUM, period=period
                ),
            },
            label="Messages in the dead-letter queue",
            period=period,
        )

    def _oldest_message_age(self, *, label: str | None = None) -> cloudwatch.Metric:
        return self._queue.metric_approximate_age_of_oldest_message(
            statistic=cloudwatch.Stats.MAXIMUM, period=GRAPH_PERIOD, label=label
        )

    # --- alarms ----------------------------------------------------------------------------------------------

    def _alarms(self) -> list[cloudwatch.Alarm]:
        thresholds = self._thresholds
        at_least = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        # For these alarms missing data means "nothing happened": Lambda publishes nothing without invocations, the
        # handler emits a counter only when it is not zero, and SQS publishes a queue's metrics only while the queue
        # is active. Treating it as breaching would page for a quiet night; ignoring it would leave an alarm stuck in
        # ALARM after the last bad datapoint, since nothing else would come to clear it.
        quiet = cloudwatch.TreatMissingData.NOT_BREACHING
        return [
            self._alarm(
                "DeadLetterQueueNotEmpty",
                alarm_description=Fn.sub(
                    "Records are waiting in the ingest pipeline's dead-letter queue: Personalize never got them. "
                    "See why with `python -m tools.dlq inspect --dlq-url ${DeadLetterQueueUrl}`; after a fix, "
                    f"`redrive` or `replay` them. {RUNBOOK}",
                    {"DeadLetterQueueUrl": self._dead_letter_queue.queue_url},
                ),
                metric=self._dead_letter_depth(GRAPH_PERIOD),
                threshold=thresholds.dead_letter_messages,
                comparison_operator=at_least,
                evaluation_periods=1,
                # Not "quiet": the DLQ is the one queue whose silence can hide records. "CloudWatch considers a
                # queue to be active for up to six hours if it contains any messages or if any action accesses it"
                # (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/
                # sqs-monitoring-using-cloudwatch.html), so a DLQ nobody touches may stop publishing while records still
                # sit in it, and "not breaching" would then send "OK" for a problem nobody fixed. Ignored, missing
                # data keeps the alarm in its state; a drained DLQ (DeleteMessage is an action) publishes 0 and
                # returns it to OK.
                treat_missing_data=cloudwatch.TreatMissingData.IGNORE,
            ),
            self._alarm(
                "IngestFallingBehind",
                alarm_description=(
                    f"The ingest queue's oldest message is over {thresholds.max_message_age_seconds} seconds old: the "
                    "pipeline is falling behind or has stopped. Check the Lambda's errors and throttles, setup "
                    f"errors and the event source mapping on the dashboard. {RUNBOOK}"
                ),
                metric=self._oldest_message_age(),
                threshold=thresholds.max_message_age_seconds,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=AGE_DATAPOINTS,
                datapoints_to_alarm=AGE_DATAPOINTS,
                treat_missing_data=quiet,
            ),
            self._alarm(
                "FunctionErrors",
                alarm_description=(
                    "The ingest Lambda failed whole invocations (a crash, a timeout or an invalid environment); "
                    "their messages are redelivered and, past maxReceiveCount, dead-lettered without an ErrorCode. "
                    f"Read the function's log. {RUNBOOK}"
                ),
                metric=self._function.metric_errors(statistic=cloudwatch.Stats.SUM, period=COUNT_PERIOD),
                threshold=thresholds.function_errors,
                comparison_operator=at_least,
                evaluation_periods=1,
                treat_missing_data=quiet,
            ),
            self._alarm(
                "SetupErrors",
                alarm_description=(
                    "Personalize answered ResourceNotFound or AccessDenied: a dataset is gone or the function's "
                    "policy is wrong. Records are retried, not dead-lettered, until it is fixed or maxReceiveCount "
                    f"is reached. {RUNBOOK}"
                ),
                metric=self._total("SetupErrors", "ErrorCode", label="Setup errors", period=COUNT_PERIOD),
                threshold=thresholds.setup_errors,
                comparison_operator=at_least,
                evaluation_periods=1,
                treat_missing_data=quiet,
            ),
            self._alarm(
                "SustainedThrottling",
                alarm_description=(
                    f"Personalize has throttled the pipeline for {thresholds.throttled_periods} five-minute periods "
                    "in a row: something else shares the dataset group's Put* quota, or maxConcurrency is too high. "
                    f"{RUNBOOK}"
                ),
                metric=self._total("ThrottledCalls", "Api", label="Throttled calls", period=COUNT_PERIOD),
                threshold=thresholds.throttled_calls,
                comparison_operator=at_least,
                evaluation_periods=thresholds.throttled_periods,
                datapoints_to_alarm=thresholds.throttled_periods,
                treat_missing_data=quiet,
            ),
        ]

    def _alarm(self, alarm_id: str, **props: Any) -> cloudwatch.Alarm:
        """An alarm named ``<stack name>-<alarm_id>``.

        Without a name CloudFormation generates one from the logical id and a random suffix, which the runbook
        cannot name and which changes when the alarm is replaced. Alarm names are unique per account and Region,
        and so are stack names, so the stack name keeps two deployments of this construct apart.
        """
        return cloudwatch.Alarm(self, alarm_id, alarm_name=Fn.sub(f"${{AWS::StackName}}-{alarm_id}"), **props)

    # --- the dashboard ---------------------------------------------------------------------------------------

    def _widgets(self) -> list[list[cloudwatch.IWidget]]:
        """Rows of widgets, top to bottom: alarms; keeping up (queues); the Lambda; the records (received, accepted,
        dead-lettered, left for redelivery); Personalize (calls, throttles, errors, latency); what went wrong in
        the setup or the code; and how well calls are filled."""
        thresholds = self._thresholds
        queue, function = self._queue, self._function
        return [
            [
                cloudwatch.TextWidget(
                    markdown=(
                        "# Personalize ingest pipeline\n"
                        "Is it keeping up? The ingest queue's depth and oldest message. "
                        "What does it reject? Dead-lettered records per reason, and the dead-letter queue. "
                        f"Repair: `python -m tools.dlq inspect --dlq-url {self._dead_letter_queue.queue_url}`. "
                        "What each alarm means and what to do: the README, 'Operating it'."
                    ),
                    width=DASHBOARD_WIDTH,
                    height=2,
                ),
            ],
            [cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=DASHBOARD_WIDTH, height=3)],
            [
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
                    [self._oldest_message_age(label="Oldest message (seconds)")],
                    threshold=(thresholds.max_message_age_seconds, "Falling behind"),
                ),
                _graph(
                    "Dead-letter queue: messages waiting for repair",
                    [self._dead_letter_depth(GRAPH_PERIOD)],
                    threshold=(thresholds.dead_letter_messages, "Alarm"),
                ),
            ],
            [
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
                    [self._metric("ColdStart", label="Cold starts", function_name=function.function_name)],
                    width=6,
                ),
            ],
            [
                _graph(
                    "Records received, per kind",
                    [self._metric("RecordsReceived", label=kind, Kind=kind) for kind in KINDS],
                    width=6,
                ),
                _graph(
                    "Records accepted by Personalize, per API",
                    [self._metric("RecordsAccepted", label=api, Api=api) for api in APIS],
                    width=6,
                ),
                _graph(
                    "Records dead-lettered, per reason",
                    [self._metric("RecordsDeadLettered", label=code, ErrorCode=code) for code in DEAD_LETTER_CODES],
                    width=6,
                ),
                _graph(
                    "Records left for SQS to redeliver (retried later)",
                    [self._metric("RecordsFailed", label="Left for redelivery")],
                    width=6,
                ),
            ],
            [
                _graph(
                    "Personalize calls, per API",
                    [self._metric("ApiCalls", label=api, Api=api) for api in APIS],
                    width=6,
                ),
                _graph(
                    "Personalize throttling and retries, per API",
                    [
                        *(self._metric("ThrottledCalls", label=f"{api} throttled", Api=api) for api in APIS),
                        *(self._metric("Retries", label=f"{api} retried", Api=api) for api in APIS),
                    ],
                    width=6,
                ),
                _graph(
                    "Personalize errors, per API and error code",
                    [
                        self._search(
                            "ApiErrors", ("Api", "ErrorCode"), label="${PROP('Dim.Api')} ${PROP('Dim.ErrorCode')}"
                        )
                    ],
                    width=6,
                ),
                _graph(
                    "Personalize call latency, per API (p99, ms)",
                    [self._metric("ApiLatency", statistic="p99", label=api, Api=api) for api in APIS],
                    width=6,
                ),
            ],
            [
                _graph(
                    "Setup errors (dataset gone or access denied), per error code",
                    [self._search("SetupErrors", ("ErrorCode",), label="${PROP('Dim.ErrorCode')}")],
                ),
                _graph(
                    # The handler never crashes on one record: a bug it meets is counted here and the record retried
                    # (it reaches the DLQ as RetriesExhausted with the exception's message).
                    "Unexpected errors in the ingest code (a bug; records retried), per exception type",
                    [self._search("UnexpectedErrors", ("ErrorType",), label="${PROP('Dim.ErrorType')}")],
                ),
                _graph(
                    "Records per invocation (batch size)",
                    [
                        self._metric("BatchSize", statistic=cloudwatch.Stats.AVERAGE, label="Average"),
                        self._metric("BatchSize", statistic=cloudwatch.Stats.MAXIMUM, label="Largest"),
                    ],
                ),
            ],
            [
                _graph(
                    # Ten is the most a call takes (PERSONALIZE.md §1): lower means batches are small or bisected.
                    "Records per Personalize call, per API (average)",
                    [
                        self._metric("RecordsPerCall", statistic=cloudwatch.Stats.AVERAGE, label=api, Api=api)
                        for api in APIS
                    ],
                ),
                _graph(
                    "Older changes skipped for a newer one in the same batch, per API",
                    [self._metric("RecordsSuperseded", label=api, Api=api) for api in APIS],
                ),
                _graph(
                    "Calls split to isolate rejected records, per API",
                    [self._metric("Bisections", label=api, Api=api) for api in APIS],
                ),
            ],
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
