"""The monitoring construct under test, synthesized in small stacks of its own (shared by the monitoring tests).

Three stacks in one app, synthesized once per test session (with cdk-nag's AwsSolutions pack, as ``cdk synth``
runs it): ``Defaults`` (no email, default thresholds, the namespace and service the ingest function is given),
``Tuned`` (an alarm email, non-default thresholds, another namespace and service) and ``Longest`` (the longest
throttling the thresholds accept). Each has the queues and function the construct watches, built here rather than
taken from the ingestion stack, so these tests do not depend on how the stack wires it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aws_cdk import Acknowledgment, App, Stack, Validations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

import contract
from stacks.config import AlarmThresholds
from stacks.monitoring import PipelineMonitoring

# What the ingestion stack gives the construct: where the handler publishes (the contract's names).
NAMESPACE = contract.METRICS_NAMESPACE
SERVICE = contract.SERVICE_NAME
TUNED_NAMESPACE = "Team/PersonalizeIngest"
TUNED_SERVICE = "catalog-ingest"
EMAIL = "oncall@example.com"
TUNED = AlarmThresholds(
    max_message_age_seconds=600,
    dead_letter_messages=5,
    function_errors=3,
    setup_errors=2,
    throttled_calls=20,
    throttled_periods=4,
)
# CloudWatch evaluates an alarm on a Metrics Insights query with "only the latest 3 hours of data"
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html): one that needs a longer look
# back can never fire.
METRICS_INSIGHTS_ALARM_WINDOW_SECONDS = 3 * 60 * 60
STACK_NAMES = ("Defaults", "Tuned", "Longest")


def _longest_accepted_throttled_periods() -> int:
    """The most ``throttled_periods`` AlarmThresholds accepts, found by asking it rather than copying its bound."""
    for periods in range(1, 10_000):
        try:
            AlarmThresholds(throttled_periods=periods)
        except ValueError:
            return periods - 1
    raise AssertionError("AlarmThresholds accepts any throttled_periods: CloudWatch does not")


class Synthesized:
    """One stack of the module's app: its template, and the logical ids of what the construct watches."""

    def __init__(self, template: dict[str, Any]) -> None:
        self.json = template
        self.template = Template.from_json(template)
        queues = self.template.find_resources("AWS::SQS::Queue")
        (self.queue_id,) = [qid for qid, q in queues.items() if "RedrivePolicy" in q["Properties"]]
        (self.dlq_id,) = [qid for qid in queues if qid != self.queue_id]
        (self.function_id,) = self.template.find_resources("AWS::Lambda::Function")
        (self.topic_id,) = self.template.find_resources("AWS::SNS::Topic")
        (self.key_id,) = self.template.find_resources("AWS::KMS::Key")

    def alarms(self) -> list[dict[str, Any]]:
        return [alarm["Properties"] for alarm in self.template.find_resources("AWS::CloudWatch::Alarm").values()]

    def alarm_on_metric(self, metric_name: str) -> dict[str, Any]:
        """The one alarm watching ``metric_name`` directly, or through a math expression or query."""
        found = [alarm for alarm in self.alarms() if metric_name in watched_metrics(alarm)]
        assert len(found) == 1, f"expected one alarm on {metric_name}, found {len(found)}"
        return found[0]

    def dashboard(self) -> dict[str, Any]:
        """The dashboard body, with every token replaced by a readable placeholder."""
        (dashboard,) = self.template.find_resources("AWS::CloudWatch::Dashboard").values()
        body = dashboard["Properties"]["DashboardBody"]
        parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
        text = "".join(part if isinstance(part, str) else _placeholder(part) for part in parts)
        result: dict[str, Any] = json.loads(text)
        return result

    def widget(self, title: str) -> dict[str, Any]:
        widgets: list[dict[str, Any]] = self.dashboard()["widgets"]
        found = [w for w in widgets if w.get("properties", {}).get("title") == title]
        assert len(found) == 1, f"expected one widget titled {title!r}, found {len(found)}"
        return found[0]


def _placeholder(token: dict[str, Any]) -> str:
    # {"Ref": "Queue4A7E3555"} -> <Ref:Queue4A7E3555>; {"Fn::GetAtt": ["X", "QueueName"]} -> <X.QueueName>
    if "Ref" in token:
        return f"<Ref:{token['Ref']}>"
    if "Fn::GetAtt" in token:
        return "<{}.{}>".format(*token["Fn::GetAtt"])
    return "<token>"


def watched_metrics(alarm: dict[str, Any]) -> set[str]:
    """The metric names an alarm watches: its own, its math expression's, or its query's (``SUM(name)``)."""
    names = {alarm["MetricName"]} if "MetricName" in alarm else set()
    for entry in alarm.get("Metrics", []):
        if "MetricStat" in entry:
            names.add(entry["MetricStat"]["Metric"]["MetricName"])
        names.update(re.findall(r"SUM\((\w+)\)", entry.get("Expression", "")))
    return names


def _build(
    app: App,
    stack_id: str,
    *,
    thresholds: AlarmThresholds | None,
    alarm_email: str | None,
    namespace: str = NAMESPACE,
    service: str = SERVICE,
) -> Stack:
    """A stack holding what the construct watches (an ingest queue, its DLQ, a function) and the construct."""
    stack = Stack(app, stack_id)
    dead_letter_queue = sqs.Queue(
        stack, "DeadLetterQueue", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True
    )
    queue = sqs.Queue(
        stack,
        "Queue",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letter_queue, max_receive_count=5),
    )
    function = lambda_.Function(
        stack,
        "Function",
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return {'batchItemFailures': []}\n"),
    )
    # Scaffolding only: the construct under test creates no role. Its findings must not be acknowledged here.
    Validations.of(function).acknowledge(
        Acknowledgment(
            id="AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            reason="Test scaffolding: a stand-in for the ingest function, never deployed; the real function's role "
            "is least-privilege and tested in test_ingest_pipeline.py.",
        )
    )
    PipelineMonitoring(
        stack,
        "Monitoring",
        queue=queue,
        dead_letter_queue=dead_letter_queue,
        function=function,
        namespace=namespace,
        service=service,
        thresholds=thresholds,
        alarm_email=alarm_email,
    )
    return stack


def synthesize_monitoring(assembly_dir: Path) -> dict[str, Synthesized]:
    """Synthesize the three stacks (see the module's docstring) into ``assembly_dir``, cdk-nag included."""
    app = App(outdir=str(assembly_dir))
    _build(app, "Defaults", thresholds=None, alarm_email=None)
    _build(
        app,
        "Tuned",
        thresholds=TUNED,
        alarm_email=EMAIL,
        namespace=TUNED_NAMESPACE,
        service=TUNED_SERVICE,
    )
    # The longest throttling the construct accepts: its alarms must still be ones CloudWatch can evaluate.
    longest = AlarmThresholds(throttled_periods=_longest_accepted_throttled_periods())
    _build(app, "Longest", thresholds=longest, alarm_email=None)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    assembly = app.synth()
    return {name: Synthesized(assembly.get_stack_by_name(name).template) for name in STACK_NAMES}


def get_att(logical_id: str, attribute: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, attribute]}


# --- the custom metrics the construct graphs and alarms on ------------------------------------------------------

MetricKey = tuple[str, frozenset[str]]  # a metric name and its dimension names
_SEARCH = re.compile(r"SEARCH\('\{(?P<keys>[^}]*)\} MetricName=\"(?P<name>\w+)\" service=\"(?P<service>[^\"]*)\"'")
_QUERY = re.compile(
    r"SELECT SUM\((?P<name>\w+)\) FROM SCHEMA\(\"(?P<namespace>[^\"]+)\", (?P<keys>[^)]*)\) "
    r"WHERE service = '(?P<service>[^']*)'"
)


def used_metrics(synthesized: Synthesized, namespace: str) -> tuple[set[MetricKey], set[MetricKey], set[str]]:
    """The metrics of ``namespace`` the dashboard graphs and the alarms watch, and the service values they filter on."""
    graphed: set[MetricKey] = set()
    watched: set[MetricKey] = set()
    services: set[str] = set()
    for widget in synthesized.dashboard()["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            if isinstance(row[0], dict):
                for match in _SEARCH.finditer(row[0].get("expression", "")):
                    scope, *keys = match["keys"].split(",")
                    if scope == namespace:
                        graphed.add((match["name"], frozenset(keys)))
                        services.add(match["service"])
            elif row[0] == namespace:
                rest = row[2:-1] if isinstance(row[-1], dict) else row[2:]
                dimensions = dict(zip(rest[::2], rest[1::2], strict=True))
                graphed.add((row[1], frozenset(dimensions)))
                services.add(dimensions.get("service", "<none>"))
    for alarm in synthesized.alarms():
        stats = [alarm] + [entry["MetricStat"]["Metric"] for entry in alarm.get("Metrics", []) if "MetricStat" in entry]
        for stat in stats:
            if stat.get("Namespace") == namespace:
                dimensions = {d["Name"]: d["Value"] for d in stat.get("Dimensions", [])}
                watched.add((stat["MetricName"], frozenset(dimensions)))
                services.add(dimensions.get("service", "<none>"))
        for entry in alarm.get("Metrics", []):
            for match in _QUERY.finditer(entry.get("Expression", "")):
                if match["namespace"] == namespace:
                    watched.add((match["name"], frozenset(key.strip() for key in match["keys"].split(","))))
                    services.add(match["service"])
    return graphed, watched, services
