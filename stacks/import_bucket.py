"""The bulk path's S3 side: the bucket the backfill command uploads CSV parts to, and the role Personalize reads
them with (docs/bulk.md).

Personalize reads an import job's data through the service role the job names, and the bucket must also let the
Personalize service principal read it: "Giving Amazon Personalize access to Amazon S3 resources"
(https://docs.aws.amazon.com/personalize/latest/dg/granting-personalize-s3-access.html) asks for s3:GetObject and
s3:ListBucket in both the role's policy and the bucket policy. Both are scoped to this bucket alone, and both name
this account, as the confused-deputy page recommends
(https://docs.aws.amazon.com/personalize/latest/dg/cross-service-confused-deputy-prevention.html).

Choices, and why:

- **S3-managed encryption** (SSE-S3), not KMS: Personalize reads SSE-S3 objects with the grants above, while a KMS
  key would need its key policy to let both the service principal and the role decrypt
  (https://docs.aws.amazon.com/personalize/latest/dg/granting-personalize-key-access.html), one more policy to get
  right for data that lives days. A dataset group's own KMS key (``datasetGroup.kmsKeyArn``) still encrypts what
  Personalize stores.
- **No versioning; a lifecycle instead.** Every object is a copy of the user's own input (parts are named by the
  input's digest) that the next run of the same command writes again, so old versions would protect nothing that
  cannot be remade, and would keep personal data around after it was deleted. The lifecycle expires objects 30
  days after upload (an import reads them within hours; a re-run after that uploads again) and aborts unfinished
  multipart uploads after a day.
- **TLS only, public access blocked, bucket-owner-enforced ownership** (no ACLs).
- **No server access logs** (acknowledged below with the reason): CloudTrail records who called what on the bucket.
- **Retained** when the stack is deleted: CloudFormation cannot delete a bucket that still holds objects, and a
  deletion must not fail halfway on it; the lifecycle empties it within 30 days, after which it may be deleted.
"""

from __future__ import annotations

import json
from typing import Final

from aws_cdk import Acknowledgment, CfnResource, Duration, Fn, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

PERSONALIZE_PRINCIPAL: Final = "personalize.amazonaws.com"
# How long an uploaded part (and a run's manifest) is kept.
EXPIRE_AFTER_DAYS: Final = 30
ABORT_UPLOADS_AFTER_DAYS: Final = 1


class ImportBucket(Construct):
    """The import bucket and the Personalize service role that reads it.

    Attributes
    ----------
    bucket
        The bucket the backfill command uploads to (output ``ImportBucketName``).
    role
        The role import jobs name (output ``ImportRoleArn``): ``personalize.amazonaws.com`` may assume it, from this
        account only, and it may read this bucket only.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireImportParts",
                    expiration=Duration.days(EXPIRE_AFTER_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(ABORT_UPLOADS_AFTER_DAYS),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        Validations.of(self.bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-S1",
                reason=(
                    "The bucket holds transient copies of import data, written by the backfill command and read by "
                    "Personalize through its service role. CloudTrail records those calls (add S3 data events to "
                    "the trail for object-level records); a log bucket would be one more store of access records "
                    "about personal data, with no reader."
                ),
            )
        )
        this_account = {"aws:SourceAccount": stack.account}
        # ARNs are single Fn::Subs rather than CDK's token concatenations (Fn::Join), which cfn-lint flags (I1022).
        source_arn = {"aws:SourceArn": Fn.sub("arn:${AWS::Partition}:personalize:${AWS::Region}:${AWS::AccountId}:*")}
        self.role = iam.Role(
            self,
            "PersonalizeRole",
            description="Assumed by Amazon Personalize to read dataset import data from the import bucket",
            assumed_by=iam.ServicePrincipal(
                PERSONALIZE_PRINCIPAL, conditions={"StringEquals": this_account, "ArnLike": source_arn}
            ),
        )
        objects = Fn.sub("${Arn}/*", {"Arn": self.bucket.bucket_arn})
        self.role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[objects]))
        self.role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn]))
        # One statement per resource type: IAM authorizes s3:GetObject on objects and s3:ListBucket on the bucket
        # (the Service Authorization Reference), so each action names only the ARNs it can apply to.
        for sid, action, resource in (
            ("PersonalizeReadsImportObjects", "s3:GetObject", objects),
            ("PersonalizeListsImports", "s3:ListBucket", self.bucket.bucket_arn),
        ):
            self.bucket.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid,
                    principals=[iam.ServicePrincipal(PERSONALIZE_PRINCIPAL)],
                    actions=[action],
                    resources=[resource],
                    conditions={"StringEquals": this_account},
                )
            )
        # enforce_ssl's statement names the objects with CDK's Fn::Join, which cfn-lint's informational I1022 would
        # rather see as an Fn::Sub; it is CDK's own construction, kept as cdk-nag's S10 recognises it.
        policy = self.bucket.policy.node.default_child if self.bucket.policy else None
        assert isinstance(policy, CfnResource)
        policy.add_metadata("cfn-lint", {"config": {"ignore_checks": ["I1022"]}})
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions::AwsSolutions-IAM5[Resource::{_finding(self.bucket)}]",
                reason=(
                    "An import job reads the objects its data location names, which the backfill command chooses "
                    "per run (parts named by the input's digest); s3:GetObject is granted on this bucket's objects "
                    "only."
                ),
            )
        )


def _finding(bucket: s3.Bucket) -> str:
    """How cdk-nag names the objects' ARN in an IAM5 finding: the Fn::Sub's arguments as compact JSON."""
    resource = bucket.node.default_child
    assert isinstance(resource, s3.CfnBucket)
    logical_id = Stack.of(bucket).resolve(resource.logical_id)
    return json.dumps(["${Arn}/*", {"Arn": {"Fn::GetAtt": [logical_id, "Arn"]}}], separators=(",", ":"))
