"""The alarms' SNS topic, encrypted with a customer-managed KMS key that CloudWatch alarms may use.

AWS managed keys (``alias/aws/sns``) cannot grant CloudWatch the ``kms:GenerateDataKey*`` and ``kms:Decrypt`` it
needs to publish to an encrypted topic
(https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services), hence a key
of the stack's own.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

# CloudWatch alarms publish to an SNS topic as this service principal.
CLOUDWATCH_PRINCIPAL: Final = "cloudwatch.amazonaws.com"


def encrypted_alarm_topic(scope: Construct) -> tuple[kms.Key, sns.Topic]:
    """The KMS key and the SNS topic the alarms notify: only CloudWatch alarms of this account and Region publish."""
    # ARNs are single Fn::Subs rather than CDK's token concatenations (Fn::Join), which cfn-lint flags (I1022).
    # CloudWatch may act for alarms of this account and region only (confused-deputy protection).
    from_our_alarms = {
        "StringEquals": {"aws:SourceAccount": Stack.of(scope).account},
        "ArnLike": {
            "aws:SourceArn": Fn.sub("arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*")
        },
    }
    key_policy = iam.PolicyDocument(
        statements=[
            # CDK's default key policy, spelled out: the account's IAM policies decide who administers and
            # uses the key, so the key cannot become unmanageable.
            iam.PolicyStatement(
                sid="AllowTheAccountsIamPolicies",
                principals=[iam.ArnPrincipal(Fn.sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root"))],
                actions=["kms:*"],
                resources=["*"],  # in a key policy, "*" is this key
            ),
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToUseTheKey",
                principals=[iam.ServicePrincipal(CLOUDWATCH_PRINCIPAL)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions=from_our_alarms,
            ),
        ]
    )
    key = kms.Key(
        scope,
        "AlarmTopicKey",
        description="Encrypts the Personalize ingest pipeline's alarm notifications (SNS)",
        enable_key_rotation=True,
        policy=key_policy,
        # The key protects notifications in transit through SNS only; nothing stored outlives the stack, so
        # the key goes with it (after KMS's shortest waiting period) instead of costing a month forever.
        removal_policy=RemovalPolicy.DESTROY,
        pending_window=Duration.days(7),
    )
    topic = sns.Topic(
        scope,
        "AlarmTopic",
        display_name="Personalize ingest alarms",
        master_key=key,
        enforce_ssl=True,
    )
    # A topic policy replaces SNS's default one (which lets the account's principals publish), and
    # enforce_ssl adds one; CloudWatch must therefore be allowed explicitly.
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsToPublish",
            principals=[iam.ServicePrincipal(CLOUDWATCH_PRINCIPAL)],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions=from_our_alarms,
        )
    )
    return key, topic
