"""The monitoring construct, synthesized in a small stack of its own and asserted by property.

Two stacks in one app, synthesized once for the module (with cdk-nag's AwsSolutions pack, as ``cdk synth`` runs
it): ``Defaults`` (no email, default thresholds, the namespace and service the ingest function is given) and
``Tuned`` (an alarm email, non-default thresholds, another namespace and service). Each has the queues and function
the construct watches, built here rather than taken from the ingestion stack, so these tests do not depend on how
the stack wires it.

The custom metrics the construct graphs and alarms on are checked against the ones the ingest Lambda's code emits,
read from its source (``lambdas/ingest``): a renamed metric or dimension would otherwise leave a graph empty and an
alarm silent, with nothing failing anywhere.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Acknowledgment, App, Stack, Validations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import lint
from cfnlint.config import ManualArgs
from cfnlint.helpers import REGIONS

import ingest.handler
from ingest.errors import ErrorCode
from ingest.kinds import KINDS as INGEST_KINDS
from stacks.monitoring import APIS, DEAD_LETTER_CODES, KINDS, AlarmThresholds, PipelineMonitoring
from tests.infra.synthesis import PROJECT_ROOT, iter_violations

# What stacks.ingest_pipeline gives the function (POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_SERVICE_NAME).
NAMESPACE = "PersonalizeIngest"
SERVICE = "personalize-ingest"
TUNED_NAMESPACE = "Team/PersonalizeIngest"
TUNED_SERVICE = "catalog-ingest"
INGEST_SOURCE = PROJECT_ROOT / "lambdas" / "ingest"
EMAIL = "oncall@example.com"
ALARMS_OF_THIS_ACCOUNT = {"Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"}
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
        found = [alarm for alarm in self.alarms() if metric_name in _watched_metrics(alarm)]
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
        found = [w for w in self.dashboard()["widgets"] if w.get("properties", {}).get("title") == title]
        assert len(found) == 1, f"expected one widget titled {title!r}, found {len(found)}"
        return found[0]


def _placeholder(token: dict[str, Any]) -> str:
    # {"Ref": "Queue4A7E3555"} -> <Ref:Queue4A7E3555>; {"Fn::GetAtt": ["X", "QueueName"]} -> <X.QueueName>
    if "Ref" in token:
        return f"<Ref:{token['Ref']}>"
    if "Fn::GetAtt" in token:
        return "<{}.{}>".format(*token["Fn::GetAtt"])
    return "<token>"


def _watched_metrics(alarm: dict[str, Any]) -> set[str]:
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


@pytest.fixture(scope="module")
def assembly_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("monitoring")


@pytest.fixture(scope="module")
def stacks(assembly_dir: Path) -> dict[str, Synthesized]:
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
    return {name: Synthesized(assembly.get_stack_by_name(name).template) for name in ("Defaults", "Tuned", "Longest")}


@pytest.fixture(scope="module")
def defaults(stacks: dict[str, Synthesized]) -> Synthesized:
    return stacks["Defaults"]


@pytest.fixture(scope="module")
def tuned(stacks: dict[str, Synthesized]) -> Synthesized:
    return stacks["Tuned"]


def get_att(logical_id: str, attribute: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, attribute]}


# --- alarms -------------------------------------------------------------------------------------------------------


ALARM_NAMES = (
    "DeadLetterQueueNotEmpty",
    "IngestFallingBehind",
    "FunctionErrors",
    "SetupErrors",
    "SustainedThrottling",
)


def test_alarms_default_config_five_alarms_each_notify_topic_on_alarm_and_ok(defaults: Synthesized) -> None:
    alarms = defaults.alarms()

    assert len(alarms) == 5
    for alarm in alarms:
        assert alarm["AlarmActions"] == [{"Ref": defaults.topic_id}]
        assert alarm["OKActions"] == [{"Ref": defaults.topic_id}]
        assert len(json.dumps(alarm["AlarmDescription"])) > 80  # tells the person paged what it means and what to do


def test_alarms_default_config_named_stack_name_dash_alarm_as_the_runbook_says(defaults: Synthesized) -> None:
    names = [alarm.get("AlarmName") for alarm in defaults.alarms()]

    # "<stack name>-<alarm>", resolved by CloudFormation: PersonalizeIngest-DeadLetterQueueNotEmpty, ...
    assert sorted(names, key=json.dumps) == sorted(
        ({"Fn::Sub": f"${{AWS::StackName}}-{name}"} for name in ALARM_NAMES), key=json.dumps
    )


def test_alarm_names_runbook_names_every_alarm_and_the_naming_rule() -> None:
    # The README's "Operating it" section, up to the next top-level heading.
    runbook = (PROJECT_ROOT / "README.md").read_text().split("\n## Operating it\n", 1)[1].split("\n## ", 1)[0]

    assert "`<stackName>-<alarm>`" in runbook
    assert [name for name in ALARM_NAMES if f"| **{name}** |" not in runbook] == []


def test_alarms_default_config_missing_data_dlq_ignored_others_not_breaching(defaults: Synthesized) -> None:
    # An untouched DLQ may stop publishing while records still sit in it: missing data must not turn it OK.
    dead_letter = defaults.alarm_on_metric("ApproximateNumberOfMessagesNotVisible")
    others = [alarm for alarm in defaults.alarms() if alarm != dead_letter]

    assert dead_letter["TreatMissingData"] == "ignore"
    assert dead_letter["OKActions"] == [{"Ref": defaults.topic_id}]  # a drained DLQ publishes 0: OK, and says so
    assert [alarm["TreatMissingData"] for alarm in others] == ["notBreaching"] * 4


def test_dead_letter_alarm_default_config_fires_on_first_message_waiting_or_in_flight(defaults: Synthesized) -> None:
    alarm = defaults.alarm_on_metric("ApproximateNumberOfMessagesNotVisible")
    metrics = {entry["Id"]: entry for entry in alarm["Metrics"]}

    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["EvaluationPeriods"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
        1,
    )
    (expression,) = [entry for entry in alarm["Metrics"] if entry.get("ReturnData", True)]
    assert expression["Expression"] == "waiting + inFlight"
    for metric_id, metric_name in (
        ("waiting", "ApproximateNumberOfMessagesVisible"),
        ("inFlight", "ApproximateNumberOfMessagesNotVisible"),
    ):
        stat = metrics[metric_id]["MetricStat"]
        assert stat["Metric"] == {
            "Namespace": "AWS/SQS",
            "MetricName": metric_name,
            "Dimensions": [{"Name": "QueueName", "Value": get_att(defaults.dlq_id, "QueueName")}],
        }
        assert (stat["Stat"], stat["Period"]) == ("Maximum", 60)
    # The alarm tells on-call how to look inside.
    assert "python -m tools.dlq inspect" in json.dumps(alarm["AlarmDescription"])


def test_falling_behind_alarm_default_config_oldest_message_over_fifteen_minutes_for_three_minutes(
    defaults: Synthesized,
) -> None:
    defaults.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateAgeOfOldestMessage",
            "Dimensions": [{"Name": "QueueName", "Value": get_att(defaults.queue_id, "QueueName")}],
            "Statistic": "Maximum",
            "Period": 60,
            "Threshold": 900,
            "ComparisonOperator": "GreaterThanThreshold",
            "EvaluationPeriods": 3,
            "DatapointsToAlarm": 3,
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": defaults.topic_id}],
        },
    )


def test_function_errors_alarm_default_config_any_error_in_five_minutes(defaults: Synthesized) -> None:
    defaults.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": defaults.function_id}}],
            "Statistic": "Sum",
            "Period": 300,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "EvaluationPeriods": 1,
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": defaults.topic_id}],
        },
    )


def test_setup_errors_alarm_default_config_sums_every_error_code_of_the_service(defaults: Synthesized) -> None:
    alarm = defaults.alarm_on_metric("SetupErrors")

    # One Metrics Insights query over every ErrorCode: a 403 with a code nobody listed still pages.
    assert alarm["Metrics"] == [
        {
            "Id": alarm["Metrics"][0]["Id"],
            "Expression": 'SELECT SUM(SetupErrors) FROM SCHEMA("PersonalizeIngest", ErrorCode, service) '
            "WHERE service = 'personalize-ingest'",
            "Label": "Setup errors",
            "Period": 300,
            "ReturnData": True,
        }
    ]
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["EvaluationPeriods"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
        1,
    )


def test_throttling_alarm_default_config_fifty_throttles_per_five_minutes_for_fifteen_minutes(
    defaults: Synthesized,
) -> None:
    alarm = defaults.alarm_on_metric("ThrottledCalls")

    (query,) = alarm["Metrics"]
    assert query["Expression"] == (
        'SELECT SUM(ThrottledCalls) FROM SCHEMA("PersonalizeIngest", Api, service) '
        "WHERE service = 'personalize-ingest'"
    )
    assert query["Period"] == 300
    assert (alarm["Threshold"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (50, 3, 3)


def test_alarms_tuned_config_thresholds_follow_configuration(tuned: Synthesized) -> None:
    assert tuned.alarm_on_metric("ApproximateAgeOfOldestMessage")["Threshold"] == 600
    assert tuned.alarm_on_metric("ApproximateNumberOfMessagesNotVisible")["Threshold"] == 5
    assert tuned.alarm_on_metric("Errors")["Threshold"] == 3
    assert tuned.alarm_on_metric("SetupErrors")["Threshold"] == 2
    throttling = tuned.alarm_on_metric("ThrottledCalls")
    assert (throttling["Threshold"], throttling["EvaluationPeriods"], throttling["DatapointsToAlarm"]) == (20, 4, 4)


def test_alarms_default_config_descriptions_point_to_the_runbook(defaults: Synthesized) -> None:
    for alarm in defaults.alarms():
        assert "README, 'Operating it'" in json.dumps(alarm["AlarmDescription"])


def test_thresholds_zero_or_negative_rejected() -> None:
    with pytest.raises(ValueError, match="throttled_periods must be a positive integer"):
        AlarmThresholds(throttled_periods=0)


@pytest.mark.parametrize("stack", ["Defaults", "Tuned", "Longest"])
def test_alarms_on_metrics_insights_queries_look_back_at_most_three_hours(
    stacks: dict[str, Synthesized], stack: str
) -> None:
    queried = [
        alarm
        for alarm in stacks[stack].alarms()
        if any(entry.get("Expression", "").startswith("SELECT ") for entry in alarm.get("Metrics", []))
    ]

    assert {name for alarm in queried for name in _watched_metrics(alarm)} == {"SetupErrors", "ThrottledCalls"}
    for alarm in queried:
        (query,) = [entry for entry in alarm["Metrics"] if entry.get("ReturnData", True)]
        # The alarm needs EvaluationPeriods datapoints of Period seconds each, all within CloudWatch's window.
        assert alarm["EvaluationPeriods"] * query["Period"] <= METRICS_INSIGHTS_ALARM_WINDOW_SECONDS
        assert alarm.get("DatapointsToAlarm", alarm["EvaluationPeriods"]) <= alarm["EvaluationPeriods"]


def test_thresholds_throttling_beyond_three_hours_of_periods_rejected_naming_the_bound() -> None:
    # 36 five-minute periods are three hours, all CloudWatch evaluates for a Metrics Insights alarm.
    assert AlarmThresholds(throttled_periods=36).throttled_periods == 36

    # The whole message: stacks/config.py turns it into "alarms.throttledPeriods: must be at most 36, got 37".
    with pytest.raises(ValueError, match=r"^AlarmThresholds\.throttled_periods must be at most 36, got 37$"):
        AlarmThresholds(throttled_periods=37)


def test_construct_namespace_with_quote_rejected() -> None:
    app = App()
    stack = Stack(app, "Bad")
    queue = sqs.Queue(stack, "Queue")
    function = lambda_.Function(
        stack,
        "Function",
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return None\n"),
    )

    with pytest.raises(ValueError, match="namespace"):
        PipelineMonitoring(
            stack,
            "Monitoring",
            queue=queue,
            dead_letter_queue=queue,
            function=function,
            namespace="Bad'Namespace",
            service=SERVICE,
        )


# --- topic, key, subscription --------------------------------------------------------------------------------------


def test_topic_default_config_encrypted_with_rotating_customer_managed_key(defaults: Synthesized) -> None:
    defaults.template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": get_att(defaults.key_id, "Arn")})
    defaults.template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_key_default_config_lets_cloudwatch_alarms_of_this_account_encrypt(defaults: Synthesized) -> None:
    defaults.template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                                "Resource": "*",
                                "Condition": {
                                    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                                    "ArnLike": {"aws:SourceArn": ALARMS_OF_THIS_ACCOUNT},
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


def test_key_default_config_administered_through_account_iam_policies(defaults: Synthesized) -> None:
    (key,) = defaults.template.find_resources("AWS::KMS::Key").values()
    statements = key["Properties"]["KeyPolicy"]["Statement"]

    assert {
        "Sid": "AllowTheAccountsIamPolicies",
        "Effect": "Allow",
        "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
        "Action": "kms:*",
        "Resource": "*",
    } in statements
    assert len(statements) == 2  # that, and CloudWatch's


def test_topic_policy_default_config_lets_cloudwatch_publish_and_denies_plain_http(defaults: Synthesized) -> None:
    (policy,) = defaults.template.find_resources("AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]

    assert policy["Properties"]["Topics"] == [{"Ref": defaults.topic_id}]
    allow = [s for s in statements if s["Effect"] == "Allow"]
    assert allow == [
        {
            "Sid": "AllowCloudWatchAlarmsToPublish",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": {"Ref": defaults.topic_id},
            "Condition": {
                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                "ArnLike": {"aws:SourceArn": ALARMS_OF_THIS_ACCOUNT},
            },
        }
    ]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
    )


def test_subscription_default_config_none(defaults: Synthesized) -> None:
    defaults.template.resource_count_is("AWS::SNS::Subscription", 0)


def test_subscription_alarm_email_configured_subscribes_email(tuned: Synthesized) -> None:
    tuned.template.resource_count_is("AWS::SNS::Subscription", 1)
    tuned.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": EMAIL, "TopicArn": {"Ref": tuned.topic_id}}
    )


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
        ("Records received, per kind", "RecordsReceived", "Kind", KINDS),
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


def test_dashboard_metric_tables_match_ingest_lambda_tables() -> None:
    assert set(KINDS) == set(INGEST_KINDS)
    assert set(APIS) == {kind.api for kind in INGEST_KINDS.values()}
    assert set(DEAD_LETTER_CODES) == {str(code) for code in ErrorCode}


# --- the metrics the ingest Lambda emits, against what the construct graphs and alarms on -----------------------

MetricKey = tuple[str, frozenset[str]]  # a metric name and its dimension names
_SEARCH = re.compile(r"SEARCH\('\{(?P<keys>[^}]*)\} MetricName=\"(?P<name>\w+)\" service=\"(?P<service>[^\"]*)\"'")
_QUERY = re.compile(
    r"SELECT SUM\((?P<name>\w+)\) FROM SCHEMA\(\"(?P<namespace>[^\"]+)\", (?P<keys>[^)]*)\) "
    r"WHERE service = '(?P<service>[^']*)'"
)
# Telemetry.count(name, value, **dimensions), Telemetry.sample(name, unit, value, **dimensions),
# MetricSink.emit(name, unit, value, ((key, value), ...)) and Powertools' Metrics.add_metric(name=...).
_EMITTERS = frozenset({"count", "sample", "emit", "add_metric"})


def _string_constants(trees: list[ast.Module]) -> dict[str, str]:
    """Module-level ``NAME = "text"`` assignments of the ingest package (metric names are kept in such constants)."""
    constants = {}
    for tree in trees:
        for node in tree.body:
            value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                constants.update({target.id: value.value for target in targets if isinstance(target, ast.Name)})
    return constants


def _dimension_names(name: str, call: ast.Call) -> set[str]:
    """The dimensions of one emitting call: keywords of count/sample, the literal pairs of emit, none for add_metric."""
    attribute = call.func.attr if isinstance(call.func, ast.Attribute) else ""
    if attribute == "add_metric":
        return set()
    if attribute == "emit":
        pairs = call.args[3] if len(call.args) > 3 else None
        assert isinstance(pairs, ast.Tuple), f"{name}: dimensions must be a literal tuple to be checked"
        names = {pair.elts[0].value for pair in pairs.elts if isinstance(pair, ast.Tuple)}
        assert all(isinstance(key, str) for key in names), f"{name}: dimension names must be literals"
        return {str(key) for key in names}
    keys = [keyword.arg for keyword in call.keywords]
    assert None not in keys, f"{name}: dimensions passed as **kwargs cannot be checked"
    return {str(key) for key in keys}


def emitted_metrics() -> set[MetricKey]:
    """Every custom metric ``lambdas/ingest`` emits, read from its source: (name, dimension names).

    A call that forwards a name it was given (``emit(name, ...)`` inside the sink) is not a metric of its own and is
    skipped; every dimension set includes Powertools' ``service``.
    """
    trees = [ast.parse(path.read_text()) for path in sorted(INGEST_SOURCE.glob("*.py"))]
    constants = _string_constants(trees)
    found: set[MetricKey] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in _EMITTERS:
                continue
            keywords = {keyword.arg: keyword.value for keyword in node.keywords}
            name_node = keywords.get("name") if node.func.attr == "add_metric" else (node.args or [None])[0]
            if isinstance(name_node, ast.Constant) and isinstance(name_node.value, str):
                name = name_node.value
            elif isinstance(name_node, ast.Name) and name_node.id in constants:
                name = constants[name_node.id]
            else:
                continue  # a forwarded name, or not a metric call at all (str.count of a variable)
            if node.func.attr in {"count", "sample"} and len(node.args) < 2:
                continue  # not Telemetry's (str.count("x") takes one argument)
            found.add((name, frozenset({*_dimension_names(name, node), "service"})))
    # Powertools' own: log_metrics(capture_cold_start_metric=...) adds ColdStart with function_name and service.
    if "capture_cold_start_metric" in (INGEST_SOURCE / "handler.py").read_text():
        found.add(("ColdStart", frozenset({"function_name", "service"})))
    return found


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


def test_emitted_metrics_read_from_ingest_source_finds_the_known_ones() -> None:
    # The reader itself: if it found nothing, the two tests below would prove nothing.
    emitted = emitted_metrics()

    assert ("RecordsDeadLettered", frozenset({"ErrorCode", "service"})) in emitted
    assert ("ApiLatency", frozenset({"Api", "service"})) in emitted
    assert ("BatchSize", frozenset({"service"})) in emitted
    assert ("ColdStart", frozenset({"function_name", "service"})) in emitted


def test_dashboard_and_alarms_default_config_use_only_metrics_the_ingest_lambda_emits(defaults: Synthesized) -> None:
    graphed, watched, services = used_metrics(defaults, NAMESPACE)

    # A name or dimension set the Lambda does not emit would be an empty graph or an alarm that never fires.
    assert (graphed | watched) - emitted_metrics() == set()
    assert services == {SERVICE}
    assert {name for name, _ in watched} == {"SetupErrors", "ThrottledCalls"}


def test_dashboard_default_config_graphs_every_metric_the_ingest_lambda_emits(defaults: Synthesized) -> None:
    graphed, _, _ = used_metrics(defaults, NAMESPACE)

    assert emitted_metrics() - graphed == set()


def test_dashboard_and_alarms_tuned_config_use_the_given_namespace_and_service(tuned: Synthesized) -> None:
    graphed, watched, services = used_metrics(tuned, TUNED_NAMESPACE)
    default_graphed, default_watched, _ = used_metrics(tuned, NAMESPACE)

    assert graphed == emitted_metrics()
    assert {name for name, _ in watched} == {"SetupErrors", "ThrottledCalls"}
    assert services == {TUNED_SERVICE}
    assert default_graphed | default_watched == set()


def test_handler_fallback_namespace_and_service_match_the_construct_inputs() -> None:
    # Without POWERTOOLS_* variables (local runs), the handler still publishes where the dashboard looks.
    assert (ingest.handler.NAMESPACE, ingest.handler.SERVICE) == (NAMESPACE, SERVICE)


# --- cdk-nag and cfn-lint -----------------------------------------------------------------------------------------


def test_cdk_nag_monitoring_stacks_no_unacknowledged_findings(
    stacks: dict[str, Synthesized], assembly_dir: Path
) -> None:
    assert list(iter_violations(assembly_dir)) == []


def test_cfn_lint_monitoring_stacks_no_matches(stacks: dict[str, Synthesized]) -> None:
    # Every region (the template is region-agnostic), informational rules included, as for the ingestion stack.
    config = ManualArgs(regions=REGIONS, include_checks=["I"])

    for synthesized in stacks.values():
        matches = lint(json.dumps(synthesized.json), config=config)
        # The construct's own resources only (their logical ids start with its id): not the scaffolding's.
        assert [str(match) for match in matches if str(match.path[1]).startswith("Monitoring")] == []


def test_cdk_nag_monitoring_construct_acknowledges_nothing(stacks: dict[str, Synthesized], assembly_dir: Path) -> None:
    report = json.loads((assembly_dir / "validation-report.json").read_text())
    suppressed = [
        construct["constructPath"]
        for plugin in report["pluginReports"]
        for finding in plugin.get("suppressedViolations", [])
        for construct in finding["violatingConstructs"]
    ]

    assert suppressed  # the scaffolding's own acknowledgement is reported, so the report is being read
    assert [path for path in suppressed if "/Monitoring/" in path] == []
