"""The monitoring construct's alarms, the topic they notify and its key, and cdk-nag and cfn-lint on the construct.

The stacks under test are ``tests.infra.monitoring_stacks``' (synthesized once per session); assertions are by
property, with the logical ids read from the template.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match

from stacks.monitoring import PipelineMonitoring
from tests.infra.monitoring_stacks import (
    EMAIL,
    METRICS_INSIGHTS_ALARM_WINDOW_SECONDS,
    SERVICE,
    Synthesized,
    get_att,
    watched_metrics,
)
from tests.infra.synthesis import PROJECT_ROOT, cfn_lint, iter_violations

ALARMS_OF_THIS_ACCOUNT = {"Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"}


@pytest.fixture(scope="module")
def defaults(monitoring_stacks: dict[str, Synthesized]) -> Synthesized:
    return monitoring_stacks["Defaults"]


@pytest.fixture(scope="module")
def tuned(monitoring_stacks: dict[str, Synthesized]) -> Synthesized:
    return monitoring_stacks["Tuned"]


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


@pytest.mark.parametrize("stack", ["Defaults", "Tuned", "Longest"])
def test_alarms_on_metrics_insights_queries_look_back_at_most_three_hours(
    monitoring_stacks: dict[str, Synthesized], stack: str
) -> None:
    queried = [
        alarm
        for alarm in monitoring_stacks[stack].alarms()
        if any(entry.get("Expression", "").startswith("SELECT ") for entry in alarm.get("Metrics", []))
    ]

    assert {name for alarm in queried for name in watched_metrics(alarm)} == {"SetupErrors", "ThrottledCalls"}
    for alarm in queried:
        (query,) = [entry for entry in alarm["Metrics"] if entry.get("ReturnData", True)]
        # The alarm needs EvaluationPeriods datapoints of Period seconds each, all within CloudWatch's window.
        assert alarm["EvaluationPeriods"] * query["Period"] <= METRICS_INSIGHTS_ALARM_WINDOW_SECONDS
        assert alarm.get("DatapointsToAlarm", alarm["EvaluationPeriods"]) <= alarm["EvaluationPeriods"]


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


# --- cdk-nag and cfn-lint -----------------------------------------------------------------------------------------


def test_cdk_nag_monitoring_stacks_no_unacknowledged_findings(
    monitoring_stacks: dict[str, Synthesized], monitoring_assembly_dir: Path
) -> None:
    assert list(iter_violations(monitoring_assembly_dir)) == []


def test_cfn_lint_monitoring_stacks_no_matches(monitoring_stacks: dict[str, Synthesized]) -> None:
    for synthesized in monitoring_stacks.values():
        # The construct's own resources only (their logical ids start with its id): not the scaffolding's.
        assert [message for where, message in cfn_lint(synthesized.json) if where.startswith("Monitoring")] == []


def test_cdk_nag_monitoring_construct_acknowledges_nothing(
    monitoring_stacks: dict[str, Synthesized], monitoring_assembly_dir: Path
) -> None:
    report = json.loads((monitoring_assembly_dir / "validation-report.json").read_text())
    suppressed = [
        construct["constructPath"]
        for plugin in report["pluginReports"]
        for finding in plugin.get("suppressedViolations", [])
        for construct in finding["violatingConstructs"]
    ]

    assert suppressed  # the scaffolding's own acknowledgement is reported, so the report is being read
    assert [path for path in suppressed if "/Monitoring/" in path] == []
