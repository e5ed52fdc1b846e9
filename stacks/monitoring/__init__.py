"""The pipeline's monitoring: a CloudWatch dashboard for the on-call engineer, and alarms that notify an SNS topic.

docs/design.md, "Monitoring". :class:`PipelineMonitoring` composes the parts, each in its own module: ``metrics``
(the metrics both sides read), ``alarms`` (the five alarms), ``dashboard`` (the rows of graphs) and ``topic``
(the encrypted topic the alarms notify). When the alarms fire is configuration:
:class:`stacks.config.alarms.AlarmThresholds`.
"""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config.alarms import AlarmThresholds
from stacks.monitoring.alarms import pipeline_alarms
from stacks.monitoring.dashboard import pipeline_dashboard
from stacks.monitoring.metrics import PipelineMetrics
from stacks.monitoring.topic import encrypted_alarm_topic

__all__ = ["PipelineMonitoring"]


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
        metrics = PipelineMetrics(
            queue=queue, dead_letter_queue=dead_letter_queue, function=function, namespace=namespace, service=service
        )
        thresholds = thresholds or AlarmThresholds()

        self.key, self.topic = encrypted_alarm_topic(self)
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.alarms: list[cloudwatch.Alarm] = pipeline_alarms(self, metrics, thresholds)
        action = cloudwatch_actions.SnsAction(self.topic)
        for alarm in self.alarms:
            alarm.add_alarm_action(action)
            # OK too: the person who was woken learns, without looking, that it recovered.
            alarm.add_ok_action(action)
        self.dashboard = pipeline_dashboard(self, metrics, alarms=self.alarms, thresholds=thresholds)
