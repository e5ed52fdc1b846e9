"""The metrics the dashboard graphs and the alarms watch: the queues', the function's, and the ingest Lambda's own.

The custom metrics are the ones ``lambdas/ingest`` publishes through Powertools EMF, named by ``contract.Metric``
and ``contract.Dimension``: every one carries Powertools' ``service`` dimension on top of its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Final

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs

from stacks.config.alarms import COUNT_PERIOD_SECONDS

# SQS publishes its queue metrics once a minute; the Lambda and EMF metrics are standard resolution (1 minute).
GRAPH_PERIOD: Final = Duration.minutes(1)
# What the counting alarms sum over (see stacks.config.alarms.COUNT_PERIOD_SECONDS).
COUNT_PERIOD: Final = Duration.seconds(COUNT_PERIOD_SECONDS)
# The dimension Powertools adds to every metric, valued with the function's POWERTOOLS_SERVICE_NAME.
SERVICE_DIMENSION: Final = "service"
# The characters CloudWatch allows in a namespace (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/
# API_Metric.html), minus the space: enough for a namespace and a service name, and nothing that needs quoting.
_METRIC_NAME: Final = re.compile(r"[A-Za-z0-9._/#:-]{1,255}")


class PipelineMetrics:
    """Builds the pipeline's CloudWatch metrics: the queues', the function's and the EMF ones under one service.

    Parameters
    ----------
    queue, dead_letter_queue
        The ingest queue and its dead-letter queue.
    function
        The ingest Lambda.
    namespace, service
        The namespace of the Lambda's EMF metrics and the value of their ``service`` dimension.

    Raises
    ------
    ValueError
        ``namespace`` or ``service`` would need quoting inside a Metrics Insights or SEARCH expression.
    """

    def __init__(
        self,
        *,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        function: lambda_.IFunction,
        namespace: str,
        service: str,
    ) -> None:
        for name, value in (("namespace", namespace), ("service", service)):
            # They are quoted inside Metrics Insights and SEARCH expressions: a quote would break the query.
            if not _METRIC_NAME.fullmatch(value):
                raise ValueError(f"PipelineMonitoring: {name} must match {_METRIC_NAME.pattern}, got {value!r}")
        self.queue = queue
        self.dead_letter_queue = dead_letter_queue
        self.function = function
        self.namespace = namespace
        self.service = service

    def custom(
        self,
        name: str,
        *,
        statistic: str = cloudwatch.Stats.SUM,
        label: str | None = None,
        period: Duration = GRAPH_PERIOD,
        dimensions: Mapping[str, str] | None = None,
    ) -> cloudwatch.Metric:
        """One of the Lambda's EMF metrics, with its own dimensions and Powertools' ``service``."""
        return cloudwatch.Metric(
            namespace=self.namespace,
            metric_name=str(name),
            dimensions_map={
                **{str(key): str(value) for key, value in (dimensions or {}).items()},
                SERVICE_DIMENSION: self.service,
            },
            statistic=statistic,
            period=period,
            label=label,
        )

    def total(self, name: str, dimension: str, *, label: str, period: Duration) -> cloudwatch.MathExpression:
        """The sum of ``name`` over every value of ``dimension``, as one series an alarm can watch.

        A Metrics Insights query rather than a sum of known metrics: the values are open-ended (SetupErrors counts
        any 403 answer's error code), and a code nobody listed must still raise the alarm.
        """
        # Not SQL and not user input: a CloudWatch query from this construct's own, checked names.
        source = f'SCHEMA("{self.namespace}", {dimension}, {SERVICE_DIMENSION})'
        query = f"SELECT SUM({name}) FROM {source} WHERE {SERVICE_DIMENSION} = '{self.service}'"  # noqa: S608
        return cloudwatch.MathExpression(expression=query, using_metrics={}, label=label, period=period)

    def search(self, name: str, dimensions: Sequence[str], *, label: str) -> cloudwatch.MathExpression:
        """Every series of ``name`` (one line per dimension value, summed per minute), for a graph.

        The values are open-ended (any error code the service returns), so a fixed list of metrics would miss
        some. SEARCH is for graphs only (alarms cannot use it); ``label`` may use dynamic labels (``${PROP(...)}``).
        """
        keys = ",".join([*dimensions, SERVICE_DIMENSION])
        query = (
            f'SEARCH(\'{{{self.namespace},{keys}}} MetricName="{name}" {SERVICE_DIMENSION}="{self.service}"\', '
            f"'Sum', {int(GRAPH_PERIOD.to_seconds())})"
        )
        return cloudwatch.MathExpression(expression=query, using_metrics={}, label=label, period=GRAPH_PERIOD)

    def dead_letter_depth(self, period: Duration) -> cloudwatch.MathExpression:
        """Messages in the dead-letter queue: waiting plus in flight.

        The DLQ tool holds messages invisible while it reads them, and the alarm should not flap to OK (and back,
        paging again) because someone is inspecting the queue.
        """
        return cloudwatch.MathExpression(
            expression="waiting + inFlight",
            using_metrics={
                "waiting": self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    statistic=cloudwatch.Stats.MAXIMUM, period=period
                ),
                "inFlight": self.dead_letter_queue.metric_approximate_number_of_messages_not_visible(
                    statistic=cloudwatch.Stats.MAXIMUM, period=period
                ),
            },
            label="Messages in the dead-letter queue",
            period=period,
        )

    def oldest_message_age(self, *, label: str | None = None) -> cloudwatch.Metric:
        """The age of the ingest queue's oldest message (the most, per minute)."""
        return self.queue.metric_approximate_age_of_oldest_message(
            statistic=cloudwatch.Stats.MAXIMUM, period=GRAPH_PERIOD, label=label
        )
