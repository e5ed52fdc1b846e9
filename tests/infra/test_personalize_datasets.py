"""The Personalize custom resources and their provider, asserted by property on synthesized templates.

Three syntheses: the app with cdk.json's default configuration (items and actions, retained) and with every dataset
type and a KMS key, both as ``cdk synth`` runs them (cdk-nag included); and the construct alone with ``destroy``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Match, Template

from resources import handler as resources_handler
from resources.types import RESOURCE_TYPES as HANDLED_TYPES
from stacks.config import DATASET_KINDS
from stacks.personalize_datasets import DatasetSpec, PersonalizeDatasets
from tests.infra.synthesis import PROJECT_ROOT, Synthesized, cfn_lint, iter_violations, project_context, synthesize

KMS_KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KMS_ROLE = "arn:aws:iam::111122223333:role/PersonalizeKms"
PERSONALIZE = "arn:${AWS::Partition}:personalize:${AWS::Region}:${AWS::AccountId}"
# The schema file each dataset type gets by default.
DEFAULT_SCHEMAS = {kind.dataset_type: PROJECT_ROOT / kind.default_schema for kind in DATASET_KINDS.values()}
DATASET_TYPES = tuple(DEFAULT_SCHEMAS)


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """cdk.json's configuration, synthesized as ``cdk synth`` would."""
    return synthesize(project_context(), tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def every_type(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Every dataset kind with its default schema, a KMS key with its role, the default removal policy."""
    context = project_context(
        datasetGroup={"name": "shop", "kmsKeyArn": KMS_KEY, "roleArn": KMS_ROLE},
        datasets={kind: {} for kind in DATASET_KINDS},
    )
    return synthesize(context, tmp_path_factory.mktemp("every-type"))


@dataclass(frozen=True)
class Destroyed:
    """The construct alone with every dataset type and removal policy DESTROY: its template, and the tracking id
    each dataset type's records go through, resolved."""

    template: Template
    tracking_ids: dict[str, Any]


@pytest.fixture(scope="module")
def destroyed() -> Destroyed:
    """Every dataset type (so an event tracker too) with removal policy DESTROY, without cdk-nag."""
    stack = cdk.Stack(cdk.App(context=project_context()), "Destroyed")
    construct = PersonalizeDatasets(
        stack,
        "Personalize",
        group_name="shop",
        domain=None,
        kms_key_arn=None,
        role_arn=None,
        datasets=[DatasetSpec(dataset_type=kind, schema=DEFAULT_SCHEMAS[kind].read_text()) for kind in DATASET_TYPES],
        removal_policy=cdk.RemovalPolicy.DESTROY,
        log_retention=logs.RetentionDays.ONE_WEEK,
    )
    tracking_ids = {kind: stack.resolve(construct.tracking_id(kind)) for kind in DATASET_TYPES}
    return Destroyed(Template.from_stack(stack), tracking_ids)


def of_type(template_json: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template_json["Resources"].items() if r["Type"] == resource_type}


def by_dataset_type(template_json: Mapping[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        resource["Properties"]["DatasetType"]: (logical_id, resource)
        for logical_id, resource in of_type(template_json, "Custom::PersonalizeDataset").items()
    }


def handler_role(template_json: dict[str, Any]) -> str:
    (function,) = [
        r for r in of_type(template_json, "AWS::Lambda::Function").values()
        if r["Properties"]["Handler"] == "resources.handler.on_event"
    ]  # fmt: skip
    role: str = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return role


def handler_statements(template_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Sid -> statement of the custom resource handlers' policy (the log grants have no Sid)."""
    role = handler_role(template_json)
    (policy,) = [
        p for p in of_type(template_json, "AWS::IAM::Policy").values() if {"Ref": role} in p["Properties"]["Roles"]
    ]
    return {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"] if "Sid" in s}


# --- the custom resources -----------------------------------------------------------------------------------------


def test_custom_resources_default_config_group_and_a_schema_and_dataset_per_kind(default: Synthesized) -> None:
    (group,) = default.resources("Custom::PersonalizeDatasetGroup").values()
    schemas = {
        r["Properties"]["Name"]: r["Properties"] for r in default.resources("Custom::PersonalizeSchema").values()
    }
    datasets = by_dataset_type(default.template_json)

    assert {k: v for k, v in group["Properties"].items() if k != "ServiceToken"} == {"Name": "personalize-ingest"}
    assert schemas.keys() == {"personalize-ingest-items", "personalize-ingest-actions"}
    assert schemas["personalize-ingest-items"]["Schema"] == (PROJECT_ROOT / "schemas" / "items.json").read_text()
    assert datasets.keys() == {"ITEMS", "ACTIONS"}
    assert datasets["ITEMS"][1]["Properties"]["Name"] == "personalize-ingest-items"
    assert default.resources("Custom::PersonalizeEventTracker") == {}  # no Interactions dataset, no tracker


def test_custom_resources_every_type_config_a_dataset_per_type_with_its_default_schema(
    every_type: Synthesized,
) -> None:
    schemas = [r["Properties"] for r in every_type.resources("Custom::PersonalizeSchema").values()]

    assert by_dataset_type(every_type.template_json).keys() == set(DATASET_TYPES)
    assert sorted(schema["Schema"] for schema in schemas) == sorted(
        path.read_text() for path in DEFAULT_SCHEMAS.values()
    )


@pytest.mark.parametrize("name", ["default", "every_type"])
def test_custom_resources_any_config_datasets_reference_group_and_own_schema(
    name: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(name)
    (group_id,) = synthesized.resources("Custom::PersonalizeDatasetGroup")
    schema_ids = {
        r["Properties"]["Name"].rpartition("-")[2].upper(): lid
        for lid, r in synthesized.resources("Custom::PersonalizeSchema").items()
    }

    for dataset_type, (_, dataset) in by_dataset_type(synthesized.template_json).items():
        # References are dependencies: CloudFormation creates the group and schema first and deletes them last.
        assert dataset["Properties"]["DatasetGroupArn"] == {"Fn::GetAtt": [group_id, "Arn"]}
        assert dataset["Properties"]["SchemaArn"] == {"Fn::GetAtt": [schema_ids[dataset_type], "Arn"]}


@pytest.mark.parametrize("name", ["default", "every_type"])
def test_custom_resources_any_config_served_by_one_provider_handling_their_type(
    name: str, request: pytest.FixtureRequest
) -> None:
    template_json = request.getfixturevalue(name).template_json
    custom = [r for r in template_json["Resources"].values() if r["Type"].startswith("Custom::Personalize")]

    assert {r["Type"] for r in custom} <= set(HANDLED_TYPES)
    assert len({json.dumps(r["Properties"]["ServiceToken"]) for r in custom}) == 1


def test_event_tracker_every_type_created_after_interactions_dataset(every_type: Synthesized) -> None:
    (tracker,) = of_type(every_type.template_json, "Custom::PersonalizeEventTracker").values()
    datasets = by_dataset_type(every_type.template_json)

    assert tracker["Properties"]["Name"] == "shop-tracker"
    assert tracker["Properties"]["DatasetGroupArn"] == {
        "Fn::GetAtt": [next(iter(of_type(every_type.template_json, "Custom::PersonalizeDatasetGroup"))), "Arn"]
    }
    assert datasets["INTERACTIONS"][0] in tracker["DependsOn"]


def test_tracking_ids_construct_from_tracker_and_action_interactions_dataset(destroyed: Destroyed) -> None:
    template_json = destroyed.template.to_json()
    (tracker_id,) = of_type(template_json, "Custom::PersonalizeEventTracker")
    datasets = by_dataset_type(template_json)

    assert destroyed.tracking_ids == {
        "ITEMS": None,
        "ACTIONS": None,
        "USERS": None,
        "INTERACTIONS": {"Fn::GetAtt": [tracker_id, "TrackingId"]},
        "ACTION_INTERACTIONS": {"Fn::GetAtt": [datasets["ACTION_INTERACTIONS"][0], "TrackingId"]},
    }


def test_ingest_environment_every_type_gets_dataset_arns_and_tracking_ids(every_type: Synthesized) -> None:
    (tracker_id,) = every_type.resources("Custom::PersonalizeEventTracker")
    datasets = by_dataset_type(every_type.template_json)
    variables = every_type.ingest_function()[1]["Environment"]["Variables"]

    # The attributes, so the function is created once the datasets and tracker are ACTIVE, and follows replacements
    for kind in DATASET_KINDS.values():
        assert variables[kind.env_var] == {"Fn::GetAtt": [datasets[kind.dataset_type][0], "Arn"]}, kind.name
    assert variables["EVENT_TRACKING_ID"] == {"Fn::GetAtt": [tracker_id, "TrackingId"]}
    assert variables["ACTION_INTERACTIONS_TRACKING_ID"] == {
        "Fn::GetAtt": [datasets["ACTION_INTERACTIONS"][0], "TrackingId"]
    }


def test_dataset_group_kms_config_passes_key_and_role_to_personalize(every_type: Synthesized) -> None:
    every_type.template.has_resource_properties(
        "Custom::PersonalizeDatasetGroup",
        {"Name": "shop", "KmsKeyArn": KMS_KEY, "RoleArn": KMS_ROLE, "Domain": Match.absent()},
    )


def test_dataset_group_default_config_no_kms_key_no_role(default: Synthesized) -> None:
    default.template.has_resource_properties(
        "Custom::PersonalizeDatasetGroup", {"KmsKeyArn": Match.absent(), "RoleArn": Match.absent()}
    )


@pytest.mark.parametrize(("kms_key_arn", "role_arn"), [(KMS_KEY, None), (None, KMS_ROLE)])
def test_construct_kms_key_without_role_or_role_without_key_rejected(
    kms_key_arn: str | None, role_arn: str | None
) -> None:
    stack = cdk.Stack(cdk.App())

    with pytest.raises(ValueError, match=r"kms_key_arn and role_arn together, or neither"):
        PersonalizeDatasets(
            stack,
            "Personalize",
            group_name="shop",
            domain=None,
            kms_key_arn=kms_key_arn,
            role_arn=role_arn,
            datasets=[DatasetSpec("ITEMS", "{}")],
            removal_policy=cdk.RemovalPolicy.RETAIN,
            log_retention=logs.RetentionDays.ONE_WEEK,
        )


def test_construct_duplicate_dataset_type_rejected() -> None:
    stack = cdk.Stack(cdk.App())

    with pytest.raises(ValueError, match=r"one per type"):
        PersonalizeDatasets(
            stack,
            "Personalize",
            group_name="shop",
            domain=None,
            kms_key_arn=None,
            role_arn=None,
            datasets=[DatasetSpec("ITEMS", "{}"), DatasetSpec("ITEMS", "{}")],
            removal_policy=cdk.RemovalPolicy.RETAIN,
            log_retention=logs.RetentionDays.ONE_WEEK,
        )


# --- removal policies ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "every_type"])
def test_removal_policy_retain_keeps_group_datasets_and_tracker_even_when_their_creation_rolls_back(
    name: str, request: pytest.FixtureRequest
) -> None:
    template_json = request.getfixturevalue(name).template_json
    kept = [
        resource
        for resource_type in (
            "Custom::PersonalizeDatasetGroup",
            "Custom::PersonalizeDataset",
            "Custom::PersonalizeEventTracker",
        )
        for resource in of_type(template_json, resource_type).values()
    ]

    # Retain, not RetainExceptOnCreate: a create may adopt what a retained deletion left (CloudFormation cannot tell),
    # and a rollback of that create must not delete the adopted data (stacks/ingestion_stack.py, REMOVAL_POLICIES).
    assert len(kept) >= 2  # a group and at least one dataset (every_type: five datasets and the tracker)
    for resource in kept:
        assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_removal_policy_every_type_retains_tracker_with_its_group(every_type: Synthesized) -> None:
    every_type.template.has_resource(
        "Custom::PersonalizeEventTracker", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    )


def test_removal_policy_any_config_deletes_schemas(
    default: Synthesized, every_type: Synthesized, destroyed: Destroyed
) -> None:
    for template_json in (default.template_json, every_type.template_json, destroyed.template.to_json()):
        schemas = of_type(template_json, "Custom::PersonalizeSchema").values()
        assert schemas
        for resource in schemas:
            assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Delete", "Delete")


@pytest.mark.parametrize(
    "resource_type",
    ["Custom::PersonalizeDatasetGroup", "Custom::PersonalizeDataset", "Custom::PersonalizeEventTracker"],
)
def test_removal_policy_destroy_deletes_group_datasets_and_tracker(resource_type: str, destroyed: Destroyed) -> None:
    resources = destroyed.template.find_resources(resource_type)

    assert resources
    for resource in resources.values():
        assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Delete", "Delete")


# --- the provider -------------------------------------------------------------------------------------------------


def waiter(synthesized: Synthesized) -> dict[str, Any]:
    """The Provider framework's waiter state machine (its Properties): the one that invokes the framework's
    isComplete function. The spill's workflow is another state machine of the stack."""
    framework_is_complete, _ = synthesized.function("framework.isComplete")
    _, machine = synthesized.state_machine_invoking(framework_is_complete)
    return machine


def test_provider_default_config_async_polls_every_15_seconds_for_55_minutes(default: Synthesized) -> None:
    definition = "".join(part for part in waiter(default)["DefinitionString"]["Fn::Join"][1] if isinstance(part, str))

    # The waiter retries is_complete every query interval, up to the total timeout: 220 x 15 s = 55 min.
    assert '"Retry":[{"ErrorEquals":["States.ALL"],"IntervalSeconds":15,"MaxAttempts":220,"BackoffRate":1}]' in (
        definition
    )


def test_provider_default_config_handlers_are_resources_entry_points(default: Synthesized) -> None:
    _, on_event = default.function("resources.handler.on_event")
    _, is_complete = default.function("resources.handler.is_complete")

    assert on_event["Runtime"] == "python3.13"
    assert on_event["Code"] == default.ingest_function()[1]["Code"]  # one asset: lambdas/
    # is_complete gives up with its own message before the framework's 55-minute timeout
    assert 50 * 60 < int(is_complete["Environment"]["Variables"]["GIVE_UP_AFTER_SECONDS"]) < 55 * 60


def test_provider_handlers_default_config_timeout_covers_their_calls_at_worst(default: Synthesized) -> None:
    # A handler that times out is reported FAILED by the Provider framework, with no retry: one slow endpoint would
    # fail a deployment, a rollback or a stack deletion. So the timeout covers the calls of one invocation with
    # every attempt of each timing out and the longest backoffs, as the handlers' client is configured.
    needed = resources_handler.CALLS_PER_INVOCATION * resources_handler.WORST_CASE_CALL_SECONDS

    for entry_point in ("resources.handler.on_event", "resources.handler.is_complete"):
        _, function = default.function(entry_point)
        assert needed <= function["Timeout"] <= 15 * 60, entry_point


def test_provider_default_config_every_log_group_has_configured_retention(default: Synthesized) -> None:
    log_groups = default.resources("AWS::Logs::LogGroup")
    functions = default.resources("AWS::Lambda::Function").values()

    assert {group["Properties"].get("RetentionInDays") for group in log_groups.values()} == {30}
    # every function, the framework's included, logs to one of them
    assert all(f["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] in log_groups for f in functions)


def test_provider_default_config_waiter_logs_every_event_without_execution_data(default: Synthesized) -> None:
    logging = waiter(default)["LoggingConfiguration"]

    # Execution data would include CloudFormation's pre-signed response URL.
    assert (logging["Level"], logging["IncludeExecutionData"]) == ("ALL", False)


# --- the provider's IAM -------------------------------------------------------------------------------------------


def test_provider_iam_default_config_scoped_to_own_group_schemas_and_datasets(default: Synthesized) -> None:
    statements = handler_statements(default.template_json)
    group = {"Fn::Sub": f"{PERSONALIZE}:dataset-group/personalize-ingest"}
    schemas = {"Fn::Sub": f"{PERSONALIZE}:schema/personalize-ingest-*"}
    datasets = {"Fn::Sub": f"{PERSONALIZE}:dataset/personalize-ingest/*"}

    assert statements["DatasetGroup"]["Resource"] == group
    assert statements["Schemas"]["Resource"] == schemas
    # IAM authorizes the dataset actions on datasets only (test_iam_actions.py checks every grant against IAM)
    assert statements["Datasets"]["Resource"] == datasets
    assert statements["List"]["Resource"] == "*"
    assert all(action.startswith("personalize:List") for action in statements["List"]["Action"])
    assert (statements["Tags"]["Action"], statements["Tags"]["Resource"]) == (
        ["personalize:TagResource", "personalize:UntagResource"],
        "*",
    )
    # No tracker, no KMS role: neither tracker actions nor iam:PassRole
    assert statements.keys() == {"DatasetGroup", "Schemas", "Datasets", "List", "Tags"}


@pytest.mark.parametrize("name", ["default", "every_type"])
def test_provider_iam_any_config_only_list_and_tag_actions_on_every_resource(
    name: str, request: pytest.FixtureRequest
) -> None:
    template_json = request.getfixturevalue(name).template_json
    role = handler_role(template_json)
    on_everything = [
        action
        for policy in of_type(template_json, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "*" in ([statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"])
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    ]

    # Only the List and tagging operations, which support no resource-level permissions; the rest names resources
    unscoped = ("personalize:List", "personalize:TagResource", "personalize:UntagResource")
    assert on_everything
    assert [action for action in on_everything if not action.startswith(unscoped)] == []


@pytest.mark.parametrize("name", ["default", "every_type"])
def test_provider_iam_any_config_no_personalize_wildcard_action(name: str, request: pytest.FixtureRequest) -> None:
    template_json = request.getfixturevalue(name).template_json
    actions = [
        action
        for statement in handler_statements(template_json).values()
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    ]

    assert [action for action in actions if "*" in action] == []


def test_provider_iam_kms_config_passes_only_kms_role_only_to_personalize(every_type: Synthesized) -> None:
    statement = handler_statements(every_type.template_json)["PassKmsRoleToPersonalize"]

    assert (statement["Action"], statement["Resource"]) == ("iam:PassRole", KMS_ROLE)
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "personalize.amazonaws.com"}}
    passes = [
        s
        for p in of_type(every_type.template_json, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "iam:PassRole" in json.dumps(s["Action"])
    ]
    # The provider's is the only grant to pass the KMS role (the spill passes the import role, its own), and no
    # role of the stack may be passed to another service than Personalize.
    assert [s for s in passes if KMS_ROLE in json.dumps(s["Resource"])] == [statement]
    assert all(s["Condition"] == statement["Condition"] for s in passes)


def test_provider_iam_every_type_tracker_actions_on_trackers(every_type: Synthesized) -> None:
    statement = handler_statements(every_type.template_json)["EventTracker"]

    assert sorted(statement["Action"]) == [
        "personalize:CreateEventTracker",
        "personalize:DeleteEventTracker",
        "personalize:DescribeEventTracker",
    ]
    assert statement["Resource"] == {"Fn::Sub": f"{PERSONALIZE}:event-tracker/*"}


# --- cdk-nag and cfn-lint on the construct with every type --------------------------------------------------------


def test_cdk_nag_every_type_no_unacknowledged_findings(every_type: Synthesized) -> None:
    assert list(iter_violations(every_type.outdir)) == []


def test_cfn_lint_every_type_template_has_no_matches(every_type: Synthesized) -> None:
    assert [message for _, message in cfn_lint(every_type.template_json)] == []
