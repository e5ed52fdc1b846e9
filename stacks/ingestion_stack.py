"""The ingestion stack: composes the pipeline's constructs from the typed configuration and wires them together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from aws_cdk import CfnOutput, RemovalPolicy, Stack, Tags
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

import contract
from stacks.config import DatasetConfig, DatasetGroupConfig, PipelineConfig
from stacks.import_bucket import ImportBucket
from stacks.ingest_pipeline import DatasetTarget, IngestPipeline
from stacks.monitoring import PipelineMonitoring
from stacks.personalize_datasets import DatasetSpec, PersonalizeDatasets
from stacks.spill_workflow import SpillWorkflow

# CloudWatch Logs retention in days -> the CDK enum naming it. config.LOG_RETENTION_DAYS lists the same days.
RETENTION_DAYS: Final[Mapping[int, logs.RetentionDays]] = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}

# The configuration's removalPolicy -> what CloudFormation does with the dataset group, its datasets and tracker.
# "retain" is Retain, not RetainExceptOnCreate: the custom resources adopt what already exists under their names
# (a redeploy after a retained delete, the runbook's repairs), and CloudFormation cannot tell adopted from created,
# so RetainExceptOnCreate would delete adopted data when the adopting operation rolls back. What a failed first
# deployment leaves behind holds no data, and the next deployment adopts it (or deletes and recreates it when it
# ended CREATE FAILED) (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html).
REMOVAL_POLICIES: Final[Mapping[str, RemovalPolicy]] = {
    "retain": RemovalPolicy.RETAIN,
    "destroy": RemovalPolicy.DESTROY,
}


class IngestionStack(Stack):
    """SQS → Lambda → Amazon Personalize ingestion, configured by a :class:`PipelineConfig`.

    The stack is environment-agnostic: the region and partition are resolved at deploy time, so one synthesized
    template deploys anywhere, and synthesis needs no AWS credentials.

    Parameters
    ----------
    scope, construct_id
        The usual construct parameters.
    config
        The validated configuration; ``config.stack_name`` names the CloudFormation stack.
    **kwargs
        Passed to :class:`aws_cdk.Stack` (``env``, ``synthesizer``, ...).

    Attributes
    ----------
    personalize
        The dataset group, schemas, datasets and tracker the stack creates; ``None`` with existing datasets.
    pipeline
        The ingest pipeline (queues, function, event source).
    monitoring
        The dashboard, the alarms and the topic they notify.
    imports
        The import bucket and the Personalize role that reads it (the bulk path).
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: PipelineConfig, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            stack_name=config.stack_name,
            description="Ingests changes published to an SQS queue into Amazon Personalize datasets",
            **kwargs,
        )
        # The configuration's tags reach every taggable resource of the stack, the Personalize dataset group,
        # datasets and event tracker included (stacks/personalize_tagging.py); schemas take no tags.
        for key, value in config.tags.items():
            Tags.of(self).add(key, value)
        self.personalize: PersonalizeDatasets | None = None
        if config.dataset_group is not None:
            self.personalize = self._personalize(config.dataset_group, config)
            datasets = self._provisioned_targets(self.personalize, config.datasets)
            dataset_group_arn = self.personalize.dataset_group_arn
        else:
            # Bring-your-own datasets: the ARNs come from the configuration and the schemas are unknown until
            # runtime.
            datasets = _existing_targets(config.datasets)
            dataset_group_arn = config.datasets[0].dataset_group_arn
        self.pipeline = IngestPipeline(
            self,
            "IngestPipeline",
            datasets=datasets,
            batch_size=config.batch_size,
            max_batching_window_seconds=config.max_batching_window_seconds,
            max_concurrency=config.max_concurrency,
            max_receive_count=config.max_receive_count,
            function_timeout_seconds=config.function_timeout_seconds,
            function_memory_mb=config.function_memory_mb,
            log_retention=RETENTION_DAYS[config.log_retention_days],
            fifo=config.fifo,
            put_quotas=config.put_quotas,
        )
        self.monitoring = PipelineMonitoring(
            self,
            "Monitoring",
            queue=self.pipeline.queue,
            dead_letter_queue=self.pipeline.dead_letter_queue,
            function=self.pipeline.function,
            # Where the handler publishes its metrics (the function's POWERTOOLS_* environment).
            namespace=contract.METRICS_NAMESPACE,
            service=contract.SERVICE_NAME,
            thresholds=config.alarms,
            alarm_email=config.alarm_email,
        )
        # The bulk path (docs/bulk.md): the bucket the backfill command uploads to and the role import jobs read it
        # with; the same with datasets the stack creates and with existing ones.
        self.imports = ImportBucket(self, "Imports")
        self.spill = self._spill(config, datasets)
        self._outputs(dataset_group_arn, datasets)

    def _spill(self, config: PipelineConfig, datasets: Sequence[DatasetTarget]) -> SpillWorkflow:
        """The automatic spill of a deep backlog through import jobs (docs/bulk.md, "The spill"). Standard queues
        only: a FIFO queue's order is its groups', which a drain in chunks would have to keep."""
        spill_after = spill_after_seconds(config)
        mapping = next(
            child for child in self.pipeline.function.node.children if isinstance(child, lambda_.EventSourceMapping)
        )
        spill = SpillWorkflow(
            self,
            "Spill",
            queue=self.pipeline.queue,
            dead_letter_queue=self.pipeline.dead_letter_queue,
            mapping=mapping,
            function_timeout_seconds=config.function_timeout_seconds,
            bucket=self.imports.bucket,
            import_role=self.imports.role,
            datasets=datasets,
            topic=self.monitoring.topic,
            log_retention=RETENTION_DAYS[config.log_retention_days],
            spill_after_seconds=0 if config.fifo else spill_after,
            put_quotas=config.put_quotas,
        )
        self.monitoring.dashboard.add_widgets(*spill.widgets())
        return spill

    def _personalize(self, group: DatasetGroupConfig, config: PipelineConfig) -> PersonalizeDatasets:
        """The dataset group, schemas, datasets and tracker the stack creates."""
        return PersonalizeDatasets(
            self,
            "Personalize",
            group_name=group.name,
            domain=group.domain,
            kms_key_arn=group.kms_key_arn,
            role_arn=group.role_arn,
            datasets=[
                DatasetSpec(dataset_type=dataset.kind.dataset_type, schema=str(dataset.schema))
                for dataset in config.datasets
            ],
            removal_policy=REMOVAL_POLICIES[config.removal_policy],
            log_retention=RETENTION_DAYS[config.log_retention_days],
        )

    @staticmethod
    def _provisioned_targets(
        personalize: PersonalizeDatasets, datasets: Sequence[DatasetConfig]
    ) -> list[DatasetTarget]:
        # The ARNs are the custom resources' attributes, so the function is created once they are ACTIVE, and
        # DescribeSchema names the exact schema.
        return [
            DatasetTarget(
                kind=dataset.kind,
                dataset_arn=personalize.dataset_arn(dataset.kind.dataset_type),
                schema_arn=personalize.schemas_arn_pattern,
                tracking_id=personalize.tracking_id(dataset.kind.dataset_type),
                schema_arn_finding=personalize.schemas_arn_finding,
                schema_arn_reason=(
                    "The handler reads the schema of the dataset it writes (DescribeDataset, then the read-only "
                    "DescribeSchema). After an in-place schema update the dataset names its new schema before "
                    "CloudFormation updates this policy, so the grant covers the schemas of this stack's dataset "
                    "group (named <group>-<type>-<digest>), not only the current one."
                ),
            )
            for dataset in datasets
        ]

    def _outputs(self, dataset_group_arn: str, datasets: Sequence[DatasetTarget]) -> None:
        """What an operator or a publisher needs from the deployment: ARNs, the queue, the function, the alarms, the
        import bucket."""
        CfnOutput(self, "DatasetGroupArn", value=dataset_group_arn, description="The Personalize dataset group")
        for target in datasets:
            CfnOutput(
                self,
                f"{target.kind.name[0].upper()}{target.kind.name[1:]}DatasetArn",
                value=target.dataset_arn,
                description=f"The {target.kind.dataset_type} dataset the pipeline writes {target.kind.name} to",
            )
        CfnOutput(
            self,
            "IngestQueueUrl",
            value=self.pipeline.queue.queue_url,
            description="Publish changes here (SendMessage / SendMessageBatch)",
        )
        CfnOutput(self, "IngestQueueArn", value=self.pipeline.queue.queue_arn, description="The ingest queue's ARN")
        CfnOutput(
            self,
            "DeadLetterQueueUrl",
            value=self.pipeline.dead_letter_queue.queue_url,
            description="Poison records, with ErrorCode/ErrorMessage attributes; redrive from here after a fix",
        )
        CfnOutput(
            self,
            "IngestFunctionName",
            value=self.pipeline.function.function_name,
            description="The ingest Lambda",
        )
        CfnOutput(
            self,
            "AlarmTopicArn",
            value=self.monitoring.topic.topic_arn,
            description="Every alarm notifies this topic; subscribe your on-call tooling to it",
        )
        CfnOutput(
            self,
            "DashboardName",
            value=self.monitoring.dashboard.dashboard_name,
            description="The CloudWatch dashboard of the pipeline",
        )
        CfnOutput(
            self,
            "ImportBucketName",
            value=self.imports.bucket.bucket_name,
            description="The backfill command uploads dataset import data here",
        )
        CfnOutput(
            self,
            "ImportRoleArn",
            value=self.imports.role.role_arn,
            description="The role Personalize dataset import jobs read the import bucket with",
        )


def spill_after_seconds(config: PipelineConfig) -> int:
    """cdk.json's ``spillAfterSeconds``: the backlog, in seconds through Put, past which the spill starts; 0 deploys
    no spill (nor does a FIFO queue: ``IngestionStack._spill``)."""
    return config.spill_after_seconds


def _existing_targets(datasets: Sequence[DatasetConfig]) -> list[DatasetTarget]:
    return [
        DatasetTarget(
            kind=dataset.kind,
            dataset_arn=str(dataset.arn),
            schema_arn=dataset.any_schema_arn,
            tracking_id=dataset.tracking_id,
            schema_arn_finding=dataset.any_schema_arn,
            schema_arn_reason=(
                "Bring-your-own datasets: the schema ARN of an existing dataset is not known at synth (the "
                "handler reads it with DescribeDataset at runtime), so the read-only "
                "personalize:DescribeSchema is scoped to the schemas of the dataset's account and region."
            ),
        )
        for dataset in datasets
    ]
