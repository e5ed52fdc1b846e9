"""The app as a whole: cdk-nag and cfn-lint on the synthesized template, stack outputs, configuration errors, and
``cdk synth`` through the CLI, offline and quiet, exactly as ``make synth`` runs it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import aws_sqs as sqs

import app as cdk_app
from stacks.config import ConfigError
from stacks.ingestion_stack import IngestionStack
from stacks.spill_workflow import STEP_HANDLER
from tests.infra.synthesis import (
    PROJECT_ROOT,
    Synthesized,
    bring_your_own_context,
    cfn_lint,
    iter_violations,
    project_context,
    synthesize,
)

SCHEMAS_IN_DATASET_ACCOUNT = "arn:aws:personalize:us-east-1:111122223333:schema/*"
PERSONALIZE_ARN = "arn:<AWS::Partition>:personalize:<AWS::Region>:<AWS::AccountId>"
# Words that mean the CLI printed a banner, a nag or a notice instead of staying quiet.
ALARMING_WORDS = ("telemetry", "end-of-life", "unconfigured", "feature flag", "notices")


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """cdk.json's configuration, synthesized with the cdk-nag plugin, as ``cdk synth`` would."""
    return synthesize(project_context(), tmp_path_factory.mktemp("app"))


@pytest.fixture(scope="module")
def byo(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Existing datasets ("bring your own dataset group"), synthesized with the cdk-nag plugin."""
    return synthesize(bring_your_own_context(), tmp_path_factory.mktemp("byo"))


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Every dataset kind, FIFO queues, an alarm email and tuned alarms: every optional part of the template."""
    context = project_context(
        datasets={"items": {}, "actions": {}, "users": {}, "interactions": {}, "actionInteractions": {}},
        queueType="fifo",
        batchSize=10,  # a FIFO queue's most (stacks/config/settings.py)
        maxBatchingWindowSeconds=0,
        alarmEmail="oncall@example.com",
        alarms={"maxMessageAgeSeconds": 600, "throttledPeriods": 5},
        removalPolicy="destroy",
    )
    return synthesize(context, tmp_path_factory.mktemp("everything"))


def aws_solutions_report(outdir: Path) -> dict[str, Any]:
    report = json.loads((outdir / "validation-report.json").read_text())
    (plugin,) = [plugin for plugin in report["pluginReports"] if plugin["pluginName"] == "AwsSolutions"]
    result: dict[str, Any] = plugin
    return result


# --- cdk-nag ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "byo", "everything"])
def test_cdk_nag_any_config_no_unacknowledged_findings(name: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(name)
    report = aws_solutions_report(synthesized.outdir)

    # Errors and warnings alike: any finding fails, not only those that stop the synthesis.
    assert list(iter_violations(synthesized.outdir)) == []
    assert report["conclusion"] == "success"


def suppressed(synthesized: Synthesized) -> set[tuple[str, str]]:
    """The acknowledged findings, but the import bucket's (tests/infra/test_import_bucket.py asserts those)."""
    return {
        (finding["ruleName"], construct["constructPath"].removeprefix("PersonalizeIngest/"))
        for finding in aws_solutions_report(synthesized.outdir)["suppressedViolations"]
        for construct in finding["violatingConstructs"]
        if not construct["constructPath"].removeprefix("PersonalizeIngest/").startswith("Imports/")
    }


def spill_findings(synthesized: Synthesized, schemas: str) -> set[tuple[str, str]]:
    """The spill's acknowledged findings (stacks/spill_workflow.py), ``schemas`` being the schema ARN pattern its
    steps may describe, as the ingest function may."""
    steps_id, _ = synthesized.function(STEP_HANDLER)
    (bucket_id,) = [
        logical_id for logical_id in synthesized.resources("AWS::S3::Bucket") if logical_id.startswith("Imports")
    ]
    spill_objects = json.dumps(["${Arn}/spill/*", {"Arn": {"Fn::GetAtt": [bucket_id, "Arn"]}}], separators=(",", ":"))
    steps_policy = "Spill/StepsRole/DefaultPolicy/Resource"
    workflow_policy = "Spill/Workflow/Role/DefaultPolicy/Resource"
    return {
        # the spill's functions share the pinned runtime
        ("AwsSolutions-L1", "Spill/Steps/Resource"),
        ("AwsSolutions-L1", "Spill/Check/Resource"),
        # the steps: parts under spill/ only, jobs named spill-*, ListDatasetImportJobs (no resource type), and
        # the schemas the ingest function may describe
        (f"AwsSolutions-IAM5[Resource::{spill_objects}]", steps_policy),
        (f"AwsSolutions-IAM5[Resource::{PERSONALIZE_ARN}:dataset-import-job/spill-*]", steps_policy),
        ("AwsSolutions-IAM5[Resource::*]", steps_policy),
        (f"AwsSolutions-IAM5[Resource::{schemas}]", steps_policy),
        # the workflow: log delivery and X-Ray take no resource; invoke on the steps function and its versions
        ("AwsSolutions-IAM5[Resource::*]", workflow_policy),
        (f"AwsSolutions-IAM5[Resource::<{steps_id}.Arn>:*]", workflow_policy),
    }


def test_cdk_nag_default_config_acknowledges_only_reasoned_findings(default: Synthesized) -> None:
    findings = suppressed(default)
    function_ids = {
        path: default.function(handler)[0]
        for path, handler in (
            ("OnEvent", "resources.handler.on_event"),
            ("IsComplete", "resources.handler.is_complete"),
            ("framework-isComplete", "framework.isComplete"),
            ("framework-onTimeout", "framework.onTimeout"),
        )
    }

    assert findings == {
        # the ingest function and the custom resource handlers share the pinned runtime
        ("AwsSolutions-L1", "IngestPipeline/Function/Resource"),
        # the ingest function may describe this group's schemas (an in-place update names a new one)
        (
            f"AwsSolutions-IAM5[Resource::{PERSONALIZE_ARN}:schema/personalize-ingest-*]",
            "IngestPipeline/Role/DefaultPolicy/Resource",
        ),
        ("AwsSolutions-L1", "Personalize/OnEventFunction/Resource"),
        ("AwsSolutions-L1", "Personalize/IsCompleteFunction/Resource"),
        # the handlers' role: List* has no resource-level permissions; schemas and datasets under the group's name
        ("AwsSolutions-IAM5[Resource::*]", "Personalize/HandlerRole/DefaultPolicy/Resource"),
        (
            f"AwsSolutions-IAM5[Resource::{PERSONALIZE_ARN}:schema/personalize-ingest-*]",
            "Personalize/HandlerRole/DefaultPolicy/Resource",
        ),
        (
            f"AwsSolutions-IAM5[Resource::{PERSONALIZE_ARN}:dataset/personalize-ingest/*]",
            "Personalize/HandlerRole/DefaultPolicy/Resource",
        ),
        # the Provider framework: invoke grants on exactly its functions, the waiter's log delivery, no X-Ray
        *{
            (f"AwsSolutions-IAM5[Resource::<{function_ids[fn]}.Arn>:*]", f"Personalize/{role}/DefaultPolicy/Resource")
            for fn in ("OnEvent", "IsComplete")
            for role in ("FrameworkOnEventRole", "FrameworkWaiterRole")
        },
        *{
            (
                f"AwsSolutions-IAM5[Resource::<{function_ids[fn]}.Arn>:*]",
                "Personalize/Provider/waiter-state-machine/Role/DefaultPolicy/Resource",
            )
            for fn in ("framework-isComplete", "framework-onTimeout")
        },
        ("AwsSolutions-IAM5[Resource::*]", "Personalize/Provider/waiter-state-machine/Role/DefaultPolicy/Resource"),
        ("AwsSolutions-SF2", "Personalize/Provider/waiter-state-machine/Resource"),
        *spill_findings(default, f"{PERSONALIZE_ARN}:schema/personalize-ingest-*"),
    }
    assert all(len(finding["reason"]) > 40 for finding in aws_solutions_report(default.outdir)["suppressedViolations"])


def test_cdk_nag_bring_your_own_config_acknowledges_only_schema_wildcard_runtime_and_spill(byo: Synthesized) -> None:
    assert suppressed(byo) == {
        (
            f"AwsSolutions-IAM5[Resource::{SCHEMAS_IN_DATASET_ACCOUNT}]",
            "IngestPipeline/Role/DefaultPolicy/Resource",
        ),
        ("AwsSolutions-L1", "IngestPipeline/Function/Resource"),
        *spill_findings(byo, SCHEMAS_IN_DATASET_ACCOUNT),
    }
    assert all(len(finding["reason"]) > 40 for finding in aws_solutions_report(byo.outdir)["suppressedViolations"])


def test_cdk_nag_event_datasets_acknowledge_unscoped_put_apis_on_ingest_role_only(everything: Synthesized) -> None:
    on_ingest_role = {finding for finding in suppressed(everything) if finding[1].startswith("IngestPipeline/Role")}

    assert on_ingest_role == {
        ("AwsSolutions-IAM5[Resource::*]", "IngestPipeline/Role/DefaultPolicy/Resource"),
        (
            f"AwsSolutions-IAM5[Resource::{PERSONALIZE_ARN}:schema/personalize-ingest-*]",
            "IngestPipeline/Role/DefaultPolicy/Resource",
        ),
    }
    (reason,) = [
        finding["reason"]
        for finding in aws_solutions_report(everything.outdir)["suppressedViolations"]
        if finding["ruleName"] == "AwsSolutions-IAM5[Resource::*]"
        and any(
            c["constructPath"].endswith("IngestPipeline/Role/DefaultPolicy/Resource")
            for c in finding["violatingConstructs"]
        )
    ]
    assert "personalize:PutActionInteractions and personalize:PutEvents have no resource type" in reason


def test_cdk_nag_unacknowledged_finding_fails_synth(tmp_path: Path) -> None:
    # GIVEN the app plus a queue that breaks AwsSolutions rules (no TLS-only policy, no DLQ, no encryption)
    app = cdk_app.build_app(project_context(), outdir=str(tmp_path))
    (stack,) = [child for child in app.node.children if isinstance(child, IngestionStack)]
    sqs.Queue(stack, "Careless", encryption=sqs.QueueEncryption.UNENCRYPTED)

    # WHEN it is synthesized THEN synthesis fails and the report names the findings
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    assert ("AwsSolutions-SQS4", "error", "PersonalizeIngest/Careless/Resource") in set(iter_violations(tmp_path))


# --- cfn-lint -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "byo", "everything"])
def test_cfn_lint_any_config_template_has_no_matches(name: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(name)
    assert [message for _, message in cfn_lint(synthesized.template_json)] == []


# --- the stack ----------------------------------------------------------------------------------------------------


def test_stack_default_config_named_from_config(default: Synthesized) -> None:
    manifest = json.loads((default.outdir / "manifest.json").read_text())

    assert manifest["artifacts"]["PersonalizeIngest"]["properties"].get("stackName", "PersonalizeIngest") == (
        "PersonalizeIngest"
    )


def test_stack_default_config_outputs_dataset_group_datasets_queues_and_function(default: Synthesized) -> None:
    ingest_id, _, dlq_id, _ = default.queues()
    function_id, _ = default.ingest_function()
    (group_id,) = default.resources("Custom::PersonalizeDatasetGroup")
    datasets = {
        resource["Properties"]["DatasetType"]: logical_id
        for logical_id, resource in default.resources("Custom::PersonalizeDataset").items()
    }

    default.template.has_output("DatasetGroupArn", {"Value": {"Fn::GetAtt": [group_id, "Arn"]}})
    default.template.has_output("ItemsDatasetArn", {"Value": {"Fn::GetAtt": [datasets["ITEMS"], "Arn"]}})
    default.template.has_output("ActionsDatasetArn", {"Value": {"Fn::GetAtt": [datasets["ACTIONS"], "Arn"]}})
    default.template.has_output("IngestQueueUrl", {"Value": {"Ref": ingest_id}})
    default.template.has_output("IngestQueueArn", {"Value": {"Fn::GetAtt": [ingest_id, "Arn"]}})
    default.template.has_output("DeadLetterQueueUrl", {"Value": {"Ref": dlq_id}})
    default.template.has_output("IngestFunctionName", {"Value": {"Ref": function_id}})


def test_stack_all_kinds_output_every_dataset_arn_and_the_alarm_topic(everything: Synthesized) -> None:
    datasets = {
        resource["Properties"]["DatasetType"]: logical_id
        for logical_id, resource in everything.resources("Custom::PersonalizeDataset").items()
    }
    (topic_id,) = everything.resources("AWS::SNS::Topic")
    (dashboard_id,) = everything.resources("AWS::CloudWatch::Dashboard")

    for output, dataset_type in (
        ("ItemsDatasetArn", "ITEMS"),
        ("ActionsDatasetArn", "ACTIONS"),
        ("UsersDatasetArn", "USERS"),
        ("InteractionsDatasetArn", "INTERACTIONS"),
        ("ActionInteractionsDatasetArn", "ACTION_INTERACTIONS"),
    ):
        everything.template.has_output(output, {"Value": {"Fn::GetAtt": [datasets[dataset_type], "Arn"]}})
    everything.template.has_output("AlarmTopicArn", {"Value": {"Ref": topic_id}})
    everything.template.has_output("DashboardName", {"Value": {"Ref": dashboard_id}})


def test_stack_alarm_email_config_subscribes_address_to_alarm_topic(everything: Synthesized) -> None:
    (topic_id,) = everything.resources("AWS::SNS::Topic")

    everything.template.has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": "oncall@example.com", "TopicArn": {"Ref": topic_id}},
    )


def test_stack_default_config_retains_group_and_datasets_even_when_their_creation_rolls_back(
    default: Synthesized,
) -> None:
    # The custom resources adopt a group or dataset that already exists under their name (a redeploy after a
    # retained delete); CloudFormation cannot tell that from a creation, so RetainExceptOnCreate would delete
    # adopted data when the adopting deployment fails. Retain never does.
    for resource_type in ("Custom::PersonalizeDatasetGroup", "Custom::PersonalizeDataset"):
        found = default.resources(resource_type)
        assert found, resource_type
        for resource in found.values():
            assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_stack_default_config_no_alarm_subscription(default: Synthesized) -> None:
    assert default.resources("AWS::SNS::Subscription") == {}


def test_stack_tuned_alarms_config_reaches_the_alarms(everything: Synthesized, default: Synthesized) -> None:
    def age_thresholds(synthesized: Synthesized) -> list[float]:
        return [
            alarm["Properties"]["Threshold"]
            for alarm in synthesized.resources("AWS::CloudWatch::Alarm").values()
            if alarm["Properties"].get("MetricName") == "ApproximateAgeOfOldestMessage"
        ]

    assert age_thresholds(default) == [900]
    assert age_thresholds(everything) == [600]


def test_stack_bring_your_own_config_outputs_configured_arns(byo: Synthesized) -> None:
    byo.template.has_output(
        "DatasetGroupArn", {"Value": "arn:aws:personalize:us-east-1:111122223333:dataset-group/personalize-ingest"}
    )
    byo.template.has_output(
        "ItemsDatasetArn", {"Value": "arn:aws:personalize:us-east-1:111122223333:dataset/personalize-ingest/ITEMS"}
    )
    assert byo.resources("Custom::PersonalizeDataset") == {}
    # No Provider framework (its waiter is a state machine) for existing datasets: the spill's is the only one.
    spill_workflow_id, _ = byo.state_machine_invoking(byo.function(STEP_HANDLER)[0])
    assert list(byo.resources("AWS::StepFunctions::StateMachine")) == [spill_workflow_id]


def test_stack_custom_stack_name_names_cloudformation_stack(tmp_path: Path) -> None:
    app = cdk_app.build_app(project_context(stackName="Ingest-Test"), outdir=str(tmp_path))

    (stack,) = [child for child in app.node.children if isinstance(child, IngestionStack)]
    assert stack.stack_name == "Ingest-Test"


# --- configuration errors -----------------------------------------------------------------------------------------


def test_build_app_bad_context_value_raises_config_error_naming_key() -> None:
    with pytest.raises(ConfigError, match=r"^batchSize: must be an integer between 1 and 10000, got 'x'$"):
        cdk_app.build_app(project_context(batchSize="x"))


def test_main_bad_cli_context_reports_one_line_and_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the CLI's context with `-c batchSize=x` (the CLI passes it through the jsii runtime's environment,
    # which is already running here, so the context is handed to the real build_app directly)
    build_app = cdk_app.build_app
    monkeypatch.setattr(cdk_app, "build_app", lambda: build_app(project_context(batchSize="x")))

    assert cdk_app.main() == 1
    assert capsys.readouterr().err == (
        "Invalid configuration (cdk.json context or -c): batchSize: must be an integer between 1 and 10000, got 'x'\n"
    )


# --- the CLI ------------------------------------------------------------------------------------------------------


def makefile_environment() -> dict[str, str]:
    """The variables the Makefile exports to every recipe (``export NAME := value`` / ``?= value``)."""
    text = (PROJECT_ROOT / "Makefile").read_text()
    exports = re.findall(r"^export\s+(\w+)\s*[:?]?=\s*(.*?)\s*$", text, flags=re.MULTILINE)
    assert exports, "the Makefile exports nothing?"
    return {name: value.replace("$(CURDIR)", str(PROJECT_ROOT)) for name, value in exports}


@pytest.fixture(scope="module")
def cli_synth(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`make synth`'s command with the Makefile's environment, no AWS credentials, into a temporary directory."""
    output = tmp_path_factory.mktemp("cli") / "cdk.out"
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "CDK_")) and not name.startswith("JSII_")
    }
    environment |= makefile_environment()
    # No credentials from anywhere: not the environment, not the config files, not instance metadata.
    environment |= {
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    result = subprocess.run(
        ["npx", "--no-install", "cdk", "synth", "--quiet", "--output", str(output)],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    return result, output


def test_cli_synth_offline_without_credentials_succeeds(
    cli_synth: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, output = cli_synth

    assert result.returncode == 0, result.stderr
    assert (output / "PersonalizeIngest.template.json").is_file()


def test_cli_synth_offline_without_credentials_prints_nothing_alarming(
    cli_synth: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, _ = cli_synth

    stderr = result.stderr.lower()
    assert [word for word in ALARMING_WORDS if word in stderr] == [], result.stderr


def test_cli_synth_same_template_as_build_app(
    cli_synth: tuple[subprocess.CompletedProcess[str], Path], default: Synthesized
) -> None:
    # The CLI runs app.py from the project root; build_app in-process must produce the same resources, and the
    # asset must hash the same (no bytecode or working-directory dependence).
    _, output = cli_synth
    template = json.loads((output / "PersonalizeIngest.template.json").read_text())

    def without_metadata(resources: dict[str, Any]) -> dict[str, Any]:
        return {rid: {k: v for k, v in res.items() if k != "Metadata"} for rid, res in resources.items()}

    assert without_metadata(template["Resources"]) == without_metadata(default.template_json["Resources"])
    assert template["Outputs"] == default.template_json["Outputs"]
