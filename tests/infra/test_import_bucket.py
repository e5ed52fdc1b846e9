"""The import bucket and the Personalize role that reads it (stacks/import_bucket.py), checked by property on the
synthesized template: encryption, TLS, public access, lifecycle, least privilege, the outputs, cdk-nag, cfn-lint.
Both configurations: datasets the stack creates, and existing ones ("bring your own dataset group").
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.spill_workflow import STEP_HANDLER
from tests.infra.synthesis import Synthesized, bring_your_own_context, cfn_lint, iter_violations, project_context
from tests.infra.synthesis import synthesize as synthesize_app

PERSONALIZE = "personalize.amazonaws.com"


@pytest.fixture(scope="module", params=["provisioned", "bring-your-own"])
def synthesized(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    context = project_context() if request.param == "provisioned" else bring_your_own_context()
    return synthesize_app(context, tmp_path_factory.mktemp(request.param))


def bucket(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    return synthesized.only("AWS::S3::Bucket")


def import_role(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    """The one role Personalize may assume."""
    found = [
        (role_id, role["Properties"])
        for role_id, role in synthesized.resources("AWS::IAM::Role").items()
        if PERSONALIZE in json.dumps(role["Properties"]["AssumeRolePolicyDocument"])
    ]
    assert len(found) == 1, found
    return found[0]


def bucket_arn(bucket_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [bucket_id, "Arn"]}


def objects_arn(bucket_id: str) -> dict[str, Any]:
    return {"Fn::Sub": ["${Arn}/*", {"Arn": bucket_arn(bucket_id)}]}


def test_bucket_is_encrypted_private_and_owner_enforced(synthesized: Synthesized) -> None:
    _, properties = bucket(synthesized)

    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def test_bucket_expires_parts_and_keeps_no_versions(synthesized: Synthesized) -> None:
    _, properties = bucket(synthesized)

    (rule,) = properties["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == 30
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert "Prefix" not in rule
    assert "Filter" not in rule
    assert properties.get("VersioningConfiguration", {}).get("Status") != "Enabled"


def test_bucket_outlives_the_stack(synthesized: Synthesized) -> None:
    (resource,) = synthesized.resources("AWS::S3::Bucket").values()

    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_bucket_policy_denies_plain_http_and_lets_only_personalize_of_this_account_read(
    synthesized: Synthesized,
) -> None:
    bucket_id, _ = bucket(synthesized)
    _, policy = synthesized.only("AWS::S3::BucketPolicy")
    statements = policy["PolicyDocument"]["Statement"]

    denies = [s for s in statements if s["Effect"] == "Deny"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert policy["Bucket"] == {"Ref": bucket_id}
    assert [s["Condition"] for s in denies] == [{"Bool": {"aws:SecureTransport": "false"}}]
    # Each action on the one resource type IAM authorizes it on: objects for GetObject, the bucket for ListBucket
    assert sorted((allow["Action"], json.dumps(allow["Resource"])) for allow in allows) == [
        ("s3:GetObject", json.dumps(objects_arn(bucket_id))),
        ("s3:ListBucket", json.dumps(bucket_arn(bucket_id))),
    ]
    for allow in allows:
        assert allow["Principal"] == {"Service": PERSONALIZE}
        assert allow["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_role_is_assumable_by_personalize_of_this_account_only(synthesized: Synthesized) -> None:
    _, role = import_role(synthesized)

    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"Service": PERSONALIZE}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source_arn = json.dumps(statement["Condition"]["ArnLike"]["aws:SourceArn"])
    assert ":personalize:" in source_arn
    assert "AWS::AccountId" in source_arn
    assert "ManagedPolicyArns" not in role


def test_role_reads_the_import_bucket_and_nothing_else(synthesized: Synthesized) -> None:
    bucket_id, _ = bucket(synthesized)
    role_id, _ = import_role(synthesized)

    assert sorted(synthesized.allowed(role_id), key=json.dumps) == sorted(
        [("s3:GetObject", objects_arn(bucket_id)), ("s3:ListBucket", bucket_arn(bucket_id))], key=json.dumps
    )


def test_no_other_role_is_granted_the_bucket_but_the_spill_steps_on_spill_objects(synthesized: Synthesized) -> None:
    bucket_id, _ = bucket(synthesized)
    role_id, _ = import_role(synthesized)
    steps_role = synthesized.role_of(synthesized.function(STEP_HANDLER)[0])
    spill_objects = {"Fn::Sub": ["${Arn}/spill/*", {"Arn": {"Fn::GetAtt": [bucket_id, "Arn"]}}]}

    granted = {
        other: sorted(
            (
                (action, resource)
                for statement in synthesized.statements(other)
                if bucket_id in json.dumps(statement)
                for action in _as_list(statement["Action"])
                for resource in _as_list(statement["Resource"])
            ),
            key=json.dumps,
        )
        for other in synthesized.resources("AWS::IAM::Role")
        if other != role_id
    }

    # The spill's steps write parts under spill/ and read them back, and list that prefix only; no other role
    # (the ingest function's, the spill's check, the provider's) is granted anything on the bucket.
    assert {other: grants for other, grants in granted.items() if grants} == {
        steps_role: sorted(
            [
                ("s3:GetObject", spill_objects),
                ("s3:ListBucket", bucket_arn(bucket_id)),
                ("s3:PutObject", spill_objects),
            ],
            key=json.dumps,
        )
    }
    (listing,) = [s for s in synthesized.statements(steps_role) if "s3:ListBucket" in _as_list(s["Action"])]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["spill/*"]}}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_outputs_name_the_bucket_and_the_role(synthesized: Synthesized) -> None:
    bucket_id, _ = bucket(synthesized)
    role_id, _ = import_role(synthesized)
    outputs = synthesized.template_json["Outputs"]

    assert outputs["ImportBucketName"]["Value"] == {"Ref": bucket_id}
    assert outputs["ImportRoleArn"]["Value"] == {"Fn::GetAtt": [role_id, "Arn"]}


def test_cdk_nag_has_no_unacknowledged_finding_and_the_access_logs_one_has_a_reason(
    synthesized: Synthesized,
) -> None:
    report = json.loads((synthesized.outdir / "validation-report.json").read_text())
    suppressed = [
        (violation["ruleName"], construct["constructPath"], construct.get("suppressionReason", ""))
        for plugin in report["pluginReports"]
        for violation in plugin.get("suppressedViolations", [])
        for construct in violation["violatingConstructs"]
    ]

    assert list(iter_violations(synthesized.outdir)) == []
    logs = [entry for entry in suppressed if "S1" in entry[0] and "/Imports/" in entry[1]]
    assert logs, suppressed


def test_cfn_lint_has_no_findings_on_the_import_resources(synthesized: Synthesized) -> None:
    bucket_id, _ = bucket(synthesized)
    role_id, _ = import_role(synthesized)

    findings = [finding for finding in cfn_lint(synthesized.template_json) if finding[0].startswith(("Imports",))]
    assert findings == [], findings
    assert bucket_id.startswith("Imports")
    assert role_id.startswith("Imports")
