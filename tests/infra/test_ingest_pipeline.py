"""The ingest pipeline's resources, asserted by property on the synthesized template.

Two configurations are synthesized once each: cdk.json's default (the stack creates the items and actions datasets),
and a non-default one given the way ``cdk synth -c key=value`` gives it (strings, an existing items dataset as a
JSON string: "bring your own dataset group").
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import FileSystem
from aws_cdk.assertions import Match

from stacks.lambda_packaging import ASSET_EXCLUDES, LAMBDAS_ROOT
from tests.infra.synthesis import ITEMS_ARN, Synthesized, bring_your_own_context, project_context, synthesize

SCHEMAS_IN_DATASET_ACCOUNT = "arn:aws:personalize:us-east-1:111122223333:schema/*"
GROUP_ARN_PREFIX = "arn:aws:personalize:us-east-1:111122223333:dataset/personalize-ingest"
GROUP_SCHEMAS = {
    "Fn::Sub": "arn:${AWS::Partition}:personalize:${AWS::Region}:${AWS::AccountId}:schema/personalize-ingest-*"
}


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """cdk.json's configuration, synthesized."""
    return synthesize(project_context(), tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """An existing items dataset, large windowed batches, more pollers...; all given as ``-c`` strings."""
    context = bring_your_own_context(
        datasets=json.dumps({"items": {"arn": ITEMS_ARN}}),
        batchSize="100",
        maxBatchingWindowSeconds="30",
        maxConcurrency="5",
        maxReceiveCount="3",
        functionTimeoutSeconds="120",
        functionMemoryMb="1024",
        logRetentionDays="7",
    )
    return synthesize(context, tmp_path_factory.mktemp("tuned"))


ALL_KINDS: dict[str, dict[str, str]] = {
    "items": {},
    "actions": {},
    "users": {},
    "interactions": {},
    "actionInteractions": {},
}
EVENT_TRACKING_ID = "0a1b2c3d-4e5f-6789-abcd-ef0123456789"


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Every dataset kind created by the stack, on FIFO queues."""
    # FIFO queues: Lambda takes at most 10 records from one, without a batching window (stacks/config/settings.py).
    context = project_context(datasets=ALL_KINDS, queueType="fifo", batchSize=10, maxBatchingWindowSeconds=0)
    return synthesize(context, tmp_path_factory.mktemp("everything"))


@pytest.fixture(scope="module")
def byo_events(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Existing Interactions (with its event tracker's id) and Action interactions (without) datasets."""
    context = bring_your_own_context(
        datasets={
            "interactions": {"arn": f"{GROUP_ARN_PREFIX}/INTERACTIONS", "trackingId": EVENT_TRACKING_ID},
            "actionInteractions": {"arn": f"{GROUP_ARN_PREFIX}/ACTION_INTERACTIONS"},
        },
        # quotas AWS raised for this account, written in any order
        putQuotas={"PutActionInteractions": 1500, "PutEvents": 2000},
    )
    return synthesize(context, tmp_path_factory.mktemp("byo_events"))


def get_att_arn(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def custom_resource(synthesized: Synthesized, resource_type: str, **properties: str) -> str:
    """The logical id of the one custom resource of ``resource_type`` with these (literal) properties."""
    found = [
        logical_id
        for logical_id, resource in synthesized.resources(resource_type).items()
        if all(resource["Properties"].get(key) == value for key, value in properties.items())
    ]
    assert len(found) == 1, f"expected one {resource_type} with {properties}, found {found}"
    return found[0]


def dataset_id(synthesized: Synthesized, dataset_type: str) -> str:
    return custom_resource(synthesized, "Custom::PersonalizeDataset", DatasetType=dataset_type)


# --- queues ---------------------------------------------------------------------------------------------------


def test_queues_default_config_encrypted_with_sqs_managed_keys(default: Synthesized) -> None:
    queues = default.resources("AWS::SQS::Queue")

    assert len(queues) == 2
    assert all(queue["Properties"].get("SqsManagedSseEnabled") is True for queue in queues.values())


def test_queues_default_config_deny_requests_without_tls(default: Synthesized) -> None:
    ingest_id, _, dlq_id, _ = default.queues()

    for queue_id in (ingest_id, dlq_id):
        default.template.has_resource_properties(
            "AWS::SQS::QueuePolicy",
            {
                "Queues": [{"Ref": queue_id}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            {
                                "Effect": "Deny",
                                "Principal": {"AWS": "*"},
                                "Action": "sqs:*",
                                "Resource": get_att_arn(queue_id),
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ]
                    )
                },
            },
        )


def test_ingest_queue_default_config_redrives_to_dead_letter_queue_after_max_receive_count(
    default: Synthesized,
) -> None:
    _, ingest, dlq_id, dlq = default.queues()

    assert ingest["RedrivePolicy"] == {"deadLetterTargetArn": get_att_arn(dlq_id), "maxReceiveCount": 5}
    assert "RedrivePolicy" not in dlq


def test_dead_letter_queue_default_config_keeps_messages_fourteen_days(default: Synthesized) -> None:
    _, ingest, _, dlq = default.queues()

    assert dlq["MessageRetentionPeriod"] == 1_209_600
    # A redriven message expires by its first enqueue time: the DLQ must outlive the ingest queue's retention.
    assert ingest["MessageRetentionPeriod"] < dlq["MessageRetentionPeriod"]


@pytest.mark.parametrize("name", ["default", "tuned"])
def test_ingest_queue_any_config_visibility_timeout_covers_six_function_timeouts_and_window(
    name: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(name)
    config = synthesized.config
    _, ingest, _, _ = synthesized.queues()
    _, function = synthesized.ingest_function()
    _, mapping = synthesized.only("AWS::Lambda::EventSourceMapping")

    # https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html: at least 6x the function timeout
    # (plus the batching window).
    required = 6 * config.function_timeout_seconds + config.max_batching_window_seconds
    assert function["Timeout"] == config.function_timeout_seconds
    assert mapping.get("MaximumBatchingWindowInSeconds", 0) == config.max_batching_window_seconds
    assert ingest["VisibilityTimeout"] >= required


def test_ingest_queue_tuned_config_visibility_timeout_follows_timeout_and_window(tuned: Synthesized) -> None:
    _, ingest, _, _ = tuned.queues()

    assert ingest["VisibilityTimeout"] == 6 * 120 + 30
    assert ingest["RedrivePolicy"]["maxReceiveCount"] == 3


# --- function ---------------------------------------------------------------------------------------------------


def test_function_default_config_runs_ingest_handler_on_python313_arm64(default: Synthesized) -> None:
    _, function = default.ingest_function()

    assert (function["Runtime"], function["Architectures"]) == ("python3.13", ["arm64"])
    assert (function["Timeout"], function["MemorySize"]) == (60, 512)


@pytest.mark.parametrize("name", ["default", "tuned"])
def test_function_any_config_uses_the_stacks_runtime_layer(name: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(name)

    _, function = synthesized.ingest_function()

    layer_id, layer = synthesized.only("AWS::Lambda::LayerVersion")
    assert function["Layers"] == [{"Ref": layer_id}]
    assert (layer["CompatibleRuntimes"], layer["CompatibleArchitectures"]) == (["python3.13"], ["arm64"])


def test_function_default_config_environment_is_contract_two_with_provisioned_arns(default: Synthesized) -> None:
    _, _, dlq_id, _ = default.queues()
    _, function = default.ingest_function()

    # The ARNs are the custom resources' Arn attributes: the function is created once the datasets are ACTIVE.
    assert function["Environment"]["Variables"] == {
        "ITEMS_DATASET_ARN": get_att_arn(dataset_id(default, "ITEMS")),
        "ACTIONS_DATASET_ARN": get_att_arn(dataset_id(default, "ACTIONS")),
        "DEAD_LETTER_QUEUE_URL": {"Ref": dlq_id},
        "MAX_RECEIVE_COUNT": "5",
        "MAX_CONCURRENCY": "2",
        # cdk.json's batchSize; no PUT_QUOTAS: the handler paces to the contract's quotas
        "BATCH_SIZE": "250",
        "POWERTOOLS_SERVICE_NAME": "personalize-ingest",
        "POWERTOOLS_METRICS_NAMESPACE": "PersonalizeIngest",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def test_function_tuned_config_environment_names_configured_kinds_only(tuned: Synthesized) -> None:
    _, function = tuned.ingest_function()
    variables = function["Environment"]["Variables"]

    assert variables["ITEMS_DATASET_ARN"] == ITEMS_ARN
    assert "ACTIONS_DATASET_ARN" not in variables
    assert variables["MAX_RECEIVE_COUNT"] == "3"
    assert variables["MAX_CONCURRENCY"] == "5"
    assert variables["BATCH_SIZE"] == "100"
    assert "PUT_QUOTAS" not in variables
    assert (function["Timeout"], function["MemorySize"]) == (120, 1024)


def test_function_raised_quotas_config_environment_names_them_as_the_handler_parses(byo_events: Synthesized) -> None:
    _, function = byo_events.ingest_function()

    # The format lambdas/ingest/pacing.py parses, in the contract's order of APIs.
    assert function["Environment"]["Variables"]["PUT_QUOTAS"] == "PutEvents=2000,PutActionInteractions=1500"


@pytest.mark.parametrize(("name", "days"), [("default", 30), ("tuned", 7)])
def test_function_any_config_logs_to_own_log_group_with_configured_retention(
    name: str, days: int, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(name)
    _, function = synthesized.ingest_function()
    log_group_id = function["LoggingConfig"]["LogGroup"]["Ref"]

    assert synthesized.resources("AWS::Logs::LogGroup")[log_group_id]["Properties"]["RetentionInDays"] == days
    # Not the deprecated log_retention: it would add a custom resource (another Lambda) to set the retention.
    assert synthesized.resources("Custom::LogRetention") == {}


def test_function_asset_excludes_bytecode_so_hash_is_stable(tmp_path: Path) -> None:
    # GIVEN a copy of the asset root, and the same copy after Python left bytecode caches in it
    clean = tmp_path / "clean"
    shutil.copytree(LAMBDAS_ROOT, clean, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dirty = tmp_path / "dirty"
    shutil.copytree(clean, dirty)
    (dirty / "__pycache__").mkdir()
    (dirty / "__pycache__" / "app.cpython-313.pyc").write_bytes(b"\x00bytecode")
    (dirty / "stray.pyc").write_bytes(b"\x00bytecode")

    # WHEN both are fingerprinted the way Code.from_asset does, THEN the hashes agree
    assert FileSystem.fingerprint(str(dirty), exclude=list(ASSET_EXCLUDES)) == FileSystem.fingerprint(
        str(clean), exclude=list(ASSET_EXCLUDES)
    )


def test_function_repeated_synth_same_asset_hash(default: Synthesized, tmp_path: Path) -> None:
    again = synthesize(project_context(), tmp_path)

    _, first = default.ingest_function()
    _, second = again.ingest_function()
    assert first["Code"]["S3Key"] == second["Code"]["S3Key"]


# --- event source mapping -----------------------------------------------------------------------------------------


def test_event_source_default_config_reports_item_failures_at_minimum_concurrency(default: Synthesized) -> None:
    ingest_id, _, _, _ = default.queues()
    function_id, _ = default.ingest_function()

    window = default.config.max_batching_window_seconds
    default.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": get_att_arn(ingest_id),
            "FunctionName": {"Ref": function_id},
            "BatchSize": default.config.batch_size,  # cdk.json's
            "MaximumBatchingWindowInSeconds": window or Match.absent(),
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {"MaximumConcurrency": 2},
        },
    )


def test_event_source_tuned_config_batches_with_window_and_concurrency(tuned: Synthesized) -> None:
    tuned.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": 100,
            "MaximumBatchingWindowInSeconds": 30,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {"MaximumConcurrency": 5},
        },
    )


# --- IAM ----------------------------------------------------------------------------------------------------------


def ingest_role(synthesized: Synthesized) -> str:
    function_id, _ = synthesized.ingest_function()
    return synthesized.role_of(function_id)


def test_iam_default_config_put_items_only_on_items_dataset(default: Synthesized) -> None:
    assert default.resources_of("personalize:PutItems") == [get_att_arn(dataset_id(default, "ITEMS"))]


def test_iam_default_config_put_actions_only_on_actions_dataset(default: Synthesized) -> None:
    assert default.resources_of("personalize:PutActions") == [get_att_arn(dataset_id(default, "ACTIONS"))]


def test_iam_tuned_config_no_put_for_unconfigured_kind(tuned: Synthesized) -> None:
    role = ingest_role(tuned)

    assert tuned.resources_of("personalize:PutItems") == [ITEMS_ARN]
    assert tuned.resources_of("personalize:PutActions") == []
    # (The spill's steps describe the same dataset: tests/infra/test_spill_workflow.py.)
    assert tuned.resources_of("personalize:DescribeDataset", role) == [ITEMS_ARN]


def test_iam_default_config_describe_exactly_the_provisioned_datasets_and_schemas(default: Synthesized) -> None:
    role = ingest_role(default)

    assert default.resources_of("personalize:DescribeDataset", role) == sorted(
        [get_att_arn(dataset_id(default, "ITEMS")), get_att_arn(dataset_id(default, "ACTIONS"))], key=json.dumps
    )
    # The stack names its schemas "<group>-<type>-<digest>": DescribeSchema covers this group's schemas and no
    # other, so the policy still allows the new schema of an in-place update before CloudFormation updates it.
    assert default.resources_of("personalize:DescribeSchema", role) == [GROUP_SCHEMAS]


def test_iam_bring_your_own_config_describe_schemas_of_dataset_account_only(tuned: Synthesized) -> None:
    # An existing dataset's schema is unknown at synth: DescribeSchema is scoped to its account and Region.
    assert tuned.resources_of("personalize:DescribeSchema", ingest_role(tuned)) == [SCHEMAS_IN_DATASET_ACCOUNT]


@pytest.mark.parametrize("name", ["default", "tuned"])
def test_iam_any_config_ingest_role_grants_no_wildcard_action(name: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(name)
    actions = {action for action, _ in synthesized.allowed(ingest_role(synthesized))}

    assert "personalize:*" not in actions
    assert [action for action in actions if "*" in action] == []


def test_iam_default_config_ingest_role_wildcard_only_for_the_group_schemas(default: Synthesized) -> None:
    wildcards = [(a, r) for a, r in default.allowed(ingest_role(default)) if "*" in json.dumps(r)]

    assert wildcards == [("personalize:DescribeSchema", GROUP_SCHEMAS)]


def test_iam_tuned_config_ingest_role_wildcard_resource_only_for_schemas(tuned: Synthesized) -> None:
    # (The import bucket's role reads the bucket's objects: tests/infra/test_import_bucket.py.)
    wildcards = [(a, r) for a, r in tuned.allowed(ingest_role(tuned)) if "*" in json.dumps(r)]

    assert wildcards == [("personalize:DescribeSchema", SCHEMAS_IN_DATASET_ACCOUNT)]


def test_iam_default_config_ingest_role_grants_exactly_the_handler_and_event_source_actions(
    default: Synthesized,
) -> None:
    assert {action for action, _ in default.allowed(ingest_role(default))} == {
        "personalize:PutItems",
        "personalize:PutActions",
        "personalize:DescribeDataset",
        "personalize:DescribeSchema",
        # the event source mapping, polling with the function's role
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        # the handler's dead-lettering
        "sqs:SendMessage",
        # logging
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }


def test_iam_default_config_send_message_only_on_dead_letter_queue(default: Synthesized) -> None:
    ingest_id, _, dlq_id, _ = default.queues()
    role = ingest_role(default)

    # (The spill's steps dead-letter and drain too: tests/infra/test_spill_workflow.py.)
    assert default.resources_of("sqs:SendMessage", role) == [get_att_arn(dlq_id)]
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"):
        assert default.resources_of(action, role) == [get_att_arn(ingest_id)], action


@pytest.mark.parametrize("name", ["default", "tuned", "everything"])
def test_iam_any_config_ingest_role_may_release_a_deferred_record_on_the_ingest_queue(
    name: str, request: pytest.FixtureRequest
) -> None:
    # The handler defers a partial last Put* call by setting its records' visibility to 0: without this grant the
    # record would wait out the whole visibility timeout instead.
    synthesized: Synthesized = request.getfixturevalue(name)
    ingest_id, _, _, _ = synthesized.queues()

    assert synthesized.resources_of("sqs:ChangeMessageVisibility", ingest_role(synthesized)) == [get_att_arn(ingest_id)]


def test_iam_default_config_logs_only_to_own_log_group_without_managed_policy(default: Synthesized) -> None:
    _, function = default.ingest_function()
    log_group_id = function["LoggingConfig"]["LogGroup"]["Ref"]
    role = ingest_role(default)

    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        assert default.resources_of(action, role) == [get_att_arn(log_group_id)], action
    # AWSLambdaBasicExecutionRole would allow writing to every log group of the account: no role has it.
    roles = default.resources("AWS::IAM::Role").values()
    assert [role["Properties"].get("ManagedPolicyArns") for role in roles] == [None] * len(roles)


# --- all five kinds, tracking ids, FIFO -----------------------------------------------------------------------------


def test_function_all_kinds_environment_carries_every_dataset_and_both_tracking_ids(everything: Synthesized) -> None:
    variables = everything.ingest_function()[1]["Environment"]["Variables"]
    (tracker_id,) = everything.resources("Custom::PersonalizeEventTracker")

    for dataset_type in ("ITEMS", "ACTIONS", "USERS", "INTERACTIONS", "ACTION_INTERACTIONS"):
        assert variables[f"{dataset_type}_DATASET_ARN"] == get_att_arn(dataset_id(everything, dataset_type))
    # PutEvents writes through the event tracker; PutActionInteractions through the tracker Personalize made with
    # the Action interactions dataset (docs/personalize.md §1).
    assert variables["EVENT_TRACKING_ID"] == {"Fn::GetAtt": [tracker_id, "TrackingId"]}
    assert variables["ACTION_INTERACTIONS_TRACKING_ID"] == {
        "Fn::GetAtt": [dataset_id(everything, "ACTION_INTERACTIONS"), "TrackingId"]
    }


def test_iam_all_kinds_put_users_only_on_users_dataset(everything: Synthesized) -> None:
    assert everything.resources_of("personalize:PutUsers") == [get_att_arn(dataset_id(everything, "USERS"))]


def test_iam_all_kinds_unscoped_event_apis_granted_on_any_resource_only(everything: Synthesized) -> None:
    role = ingest_role(everything)

    # They have no resource type in IAM: "*" is the only resource they can be granted on.
    assert everything.resources_of("personalize:PutEvents", role) == ["*"]
    assert everything.resources_of("personalize:PutActionInteractions", role) == ["*"]
    wildcard_actions = {action for action, resource in everything.allowed(role) if resource == "*"}
    assert wildcard_actions == {"personalize:PutEvents", "personalize:PutActionInteractions"}


@pytest.mark.parametrize("name", ["default", "tuned"])
def test_iam_without_event_datasets_no_put_events_or_action_interactions(
    name: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(name)

    assert synthesized.resources_of("personalize:PutEvents") == []
    assert synthesized.resources_of("personalize:PutActionInteractions") == []


def test_iam_bring_your_own_events_grants_only_their_apis(byo_events: Synthesized) -> None:
    actions = {action for action, _ in byo_events.allowed(ingest_role(byo_events)) if action.startswith("personalize")}

    assert actions == {
        "personalize:PutEvents",
        "personalize:PutActionInteractions",
        "personalize:DescribeDataset",
        "personalize:DescribeSchema",
    }


def test_function_bring_your_own_events_environment_has_configured_tracking_id_only(byo_events: Synthesized) -> None:
    variables = byo_events.ingest_function()[1]["Environment"]["Variables"]

    assert variables["INTERACTIONS_DATASET_ARN"] == f"{GROUP_ARN_PREFIX}/INTERACTIONS"
    assert variables["EVENT_TRACKING_ID"] == EVENT_TRACKING_ID
    assert variables["ACTION_INTERACTIONS_DATASET_ARN"] == f"{GROUP_ARN_PREFIX}/ACTION_INTERACTIONS"
    # Not configured: the handler reads the Action interactions dataset's own tracking id with DescribeDataset.
    assert "ACTION_INTERACTIONS_TRACKING_ID" not in variables


def test_queues_fifo_config_both_fifo_with_per_group_throughput(everything: Synthesized) -> None:
    _, ingest, _, dead_letter = everything.queues()

    # A FIFO queue's dead-letter queue must be FIFO too.
    for queue in (ingest, dead_letter):
        assert queue["FifoQueue"] is True
        assert queue["DeduplicationScope"] == "messageGroup"
        assert queue["FifoThroughputLimit"] == "perMessageGroupId"
        assert queue["SqsManagedSseEnabled"] is True


@pytest.mark.parametrize("name", ["default", "tuned"])
def test_queues_standard_config_not_fifo(name: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(name)
    _, ingest, _, dead_letter = synthesized.queues()

    assert "FifoQueue" not in ingest
    assert "FifoQueue" not in dead_letter


def test_event_source_fifo_config_no_batching_window(everything: Synthesized) -> None:
    everything.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": 10,
            "MaximumBatchingWindowInSeconds": Match.absent(),
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )
