"""The ingest pipeline: the ingest queue, its dead-letter queue, the ingest Lambda and the event source between them.

This construct is the infrastructure half of the ingest unit; ``lambdas/ingest/`` is its runtime half. It owns
everything the handler relies on (DESIGN.md, Contracts 2 and 3): the environment it reads, the dead-letter
queue it writes poison records to, the redrive limit it dead-letters ``RetriesExhausted`` on, and an IAM policy
that allows exactly the calls the handler makes, on exactly the datasets it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from aws_cdk import Acknowledgment, CfnResource, Duration, Fn, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk.aws_lambda_event_sources import SqsEventSource
from constructs import Construct, IConstruct

from stacks.config import DatasetKind

# The Lambda asset root (DESIGN.md: ``lambdas/`` holds every function's code; imports are absolute from it).
# Resolved from this file, not the working directory, so tests and the CLI package the same directory.
LAMBDAS_ROOT: Final = Path(__file__).resolve().parent.parent / "lambdas"
# Nothing a build or a test run leaves behind may enter the asset: a fresh ``__pycache__`` changes the asset
# hash on every synth (DESIGN.md, toolchain notes) and so redeploys an unchanged function.
ASSET_EXCLUDES: Final[tuple[str, ...]] = (
    "**/__pycache__",
    "**/*.pyc",
    "**/*.pyo",
    "**/.pytest_cache",
    "**/.mypy_cache",
    "**/.ruff_cache",
    "**/*.egg-info",
    "**/.DS_Store",
)
HANDLER: Final = "ingest.handler.lambda_handler"

# The public Powertools for AWS Lambda (Python) v3 layer. Its name encodes the runtime and the architecture, so
# the three constants change together. AWS publishes it from this account in the commercial regions; the China
# and GovCloud partitions use other accounts (https://docs.powertools.aws.dev/lambda/python/latest/#lambda-layer).
RUNTIME: Final = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE: Final = lambda_.Architecture.ARM_64
POWERTOOLS_LAYER_ACCOUNT: Final = "017000801446"
POWERTOOLS_LAYER_NAME: Final = "AWSLambdaPowertoolsPythonV3-python313-arm64"

# Powertools' own settings (https://docs.powertools.aws.dev/lambda/python/latest/#environment-variables).
POWERTOOLS_ENVIRONMENT: Final = {
    "POWERTOOLS_SERVICE_NAME": "personalize-ingest",
    "POWERTOOLS_METRICS_NAMESPACE": "PersonalizeIngest",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}

# SQS keeps messages at most 14 days; the dead-letter queue keeps them that long so on-call has the most time to
# fix and redrive (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html).
# A standard queue's message expires by its *original* enqueue time even after a redrive, so the dead-letter queue
# must keep messages longer than the ingest queue does; the ingest queue keeps SQS's default 4 days, stated
# explicitly (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html).
DEAD_LETTER_RETENTION: Final = Duration.days(14)
INGEST_RETENTION: Final = Duration.days(4)
# "set the source queue's visibility timeout to at least six times the timeout that you configure on your
# function": the slack lets Lambda retry a throttled batch before the messages reappear
# (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html). The batching window is added on
# top, since records already wait in the poller while it fills a batch.
VISIBILITY_TIMEOUT_FUNCTION_TIMEOUTS: Final = 6


def queue_visibility_timeout_seconds(*, function_timeout_seconds: int, max_batching_window_seconds: int) -> int:
    """Return the ingest queue's visibility timeout: six function timeouts plus the batching window.

    Parameters
    ----------
    function_timeout_seconds
        The ingest Lambda's timeout.
    max_batching_window_seconds
        The event source's batching window (0 when none).

    Returns
    -------
    int
        The visibility timeout in seconds (at most 6 x 900 + 300 = 5,700, well under SQS's 12-hour maximum).
    """
    return VISIBILITY_TIMEOUT_FUNCTION_TIMEOUTS * function_timeout_seconds + max_batching_window_seconds


def powertools_layer_arn(version: int) -> str:
    """Return the ARN of the public Powertools v3 layer ``version`` in the deploying stack's partition and region.

    The partition and region are CloudFormation pseudo parameters, so one template deploys to any region. It is
    one ``Fn::Sub``, not a concatenation of tokens (an ``Fn::Join``), which cfn-lint advises against (I1022).
    """
    layer = f"{POWERTOOLS_LAYER_ACCOUNT}:layer:{POWERTOOLS_LAYER_NAME}:{version}"
    return Fn.sub(f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:{layer}")


def depend_on_policy_only(resource: IConstruct, role: iam.IRole) -> None:
    """Make ``resource`` depend on its role's default policy only, not on the role as well.

    A Function (or a state machine) makes its resource depend on everything under its role: the role itself and
    its default policy. The policy dependency matters (Lambda checks the SQS permissions when it creates the event
    source mapping; a custom resource must not call a handler before its permissions exist); the role dependency
    is already implied by the resource's ``GetAtt Role.Arn``, and cfn-lint flags it as redundant (W3005).

    Raises
    ------
    TypeError
        ``resource`` or the role's default policy has no CloudFormation resource: fail loudly rather than drop
        the dependency if a CDK upgrade changes how these constructs are built.
    """
    cfn_resource = resource.node.default_child
    policy = role.node.try_find_child("DefaultPolicy")
    policy_resource = policy.node.default_child if policy is not None else None
    if not isinstance(cfn_resource, CfnResource) or not isinstance(policy_resource, CfnResource):
        raise TypeError(
            f"{resource.node.path}: the resource or its role's default policy has no CloudFormation resource"
        )
    cfn_resource.add_override("DependsOn", [Stack.of(resource).get_logical_id(policy_resource)])


def _queue(scope: Construct, construct_id: str, *, fifo: bool, **settings: Any) -> sqs.Queue:
    """An encrypted, TLS-only queue; FIFO with high-throughput settings when ``fifo``.

    SQS-managed SSE: messages are encrypted at rest with keys SQS owns, at no cost and with no key policy for
    publishers or the function to get right; a customer-managed KMS key only adds control over the key itself
    (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-server-side-encryption.html).
    ``enforce_ssl`` adds a queue policy statement denying every request not made over TLS.

    High-throughput FIFO: deduplication and the throughput limit apply per message group rather than per queue
    (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/high-throughput-fifo.html). The
    publisher gives every record its own group, so the per-queue 300 messages/s would be the only bottleneck.
    Content-based deduplication is the fallback for publishers that set no deduplication id.
    """
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        fifo=True if fifo else None,
        content_based_deduplication=True if fifo else None,
        deduplication_scope=sqs.DeduplicationScope.MESSAGE_GROUP if fifo else None,
        fifo_throughput_limit=sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID if fifo else None,
        **settings,
    )


@dataclass(frozen=True)
class DatasetTarget:
    """A Personalize dataset the ingest function writes to.

    Parameters
    ----------
    kind
        The dataset kind, which names the environment variable and the Put* action.
    dataset_arn
        The dataset ARN (a literal, or a token once datasets are provisioned by the stack).
    schema_arn
        The schema(s) the handler may describe to validate this kind. Bring-your-own datasets do not reveal their
        schema at synth, so this may be a pattern ending in ``schema/*``.
    tracking_id
        The tracking id a kind written through one (``kind.tracking_env``) goes to, when the stack knows it.
    schema_arn_finding
        When ``schema_arn`` is a pattern: how cdk-nag names it in its AwsSolutions-IAM5 finding, with
        ``schema_arn_reason`` saying why a pattern is granted.
    """

    kind: DatasetKind
    dataset_arn: str
    schema_arn: str
    tracking_id: str | None = None
    schema_arn_finding: str | None = None
    schema_arn_reason: str | None = None


class IngestPipeline(Construct):
    """Ingest queue → event source mapping → ingest Lambda → Personalize, with a dead-letter queue for poison.

    Parameters
    ----------
    scope, construct_id
        The usual construct parameters.
    datasets
        The datasets the function writes to (at least one). Each sets its environment variable and is the only
        resource of its Put* action.
    batch_size
        Records per invocation.
    max_batching_window_seconds
        Batching window of the event source; 0 for none.
    max_concurrency
        Maximum concurrent invocations the event source makes.
    max_receive_count
        Deliveries before SQS redrives a message to the dead-letter queue; also passed to the handler.
    function_timeout_seconds, function_memory_mb
        The function's timeout and memory size.
    log_retention
        Retention of the function's log group.
    powertools_layer_version
        The pinned version of the public Powertools v3 layer.
    fifo
        Make both queues FIFO queues (a FIFO queue's dead-letter queue must be FIFO too), with high-throughput
        settings: deduplication and throughput are per message group, and the publisher groups by record.

    Attributes
    ----------
    queue
        The ingest queue upstream services publish to.
    dead_letter_queue
        Where poison records (from the handler) and crash loops (from the redrive policy) end up.
    function
        The ingest Lambda.
    log_group
        The function's log group.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        datasets: Sequence[DatasetTarget],
        batch_size: int,
        max_batching_window_seconds: int,
        max_concurrency: int,
        max_receive_count: int,
        function_timeout_seconds: int,
        function_memory_mb: int,
        log_retention: logs.RetentionDays,
        powertools_layer_version: int,
        fifo: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        if not datasets:
            raise ValueError("IngestPipeline needs at least one dataset to write to")

        self.dead_letter_queue = _queue(self, "DeadLetterQueue", fifo=fifo, retention_period=DEAD_LETTER_RETENTION)
        self.queue = _queue(
            self,
            "Queue",
            fifo=fifo,
            retention_period=INGEST_RETENTION,
            visibility_timeout=Duration.seconds(
                queue_visibility_timeout_seconds(
                    function_timeout_seconds=function_timeout_seconds,
                    max_batching_window_seconds=max_batching_window_seconds,
                )
            ),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=max_receive_count),
        )

        self.log_group = logs.LogGroup(self, "LogGroup", retention=log_retention)
        # An explicit role instead of the one Function makes: that one carries the AWSLambdaBasicExecutionRole
        # managed policy, which may write to every log group in the account. This one writes to its own.
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Ingest Lambda: read the ingest queue, write to Personalize and the dead-letter queue",
        )
        self.log_group.grant_write(role)

        environment = {
            **{dataset.kind.env_var: dataset.dataset_arn for dataset in datasets},
            **{
                dataset.kind.tracking_env: dataset.tracking_id
                for dataset in datasets
                if dataset.kind.tracking_env and dataset.tracking_id
            },
            "DEAD_LETTER_QUEUE_URL": self.dead_letter_queue.queue_url,
            "MAX_RECEIVE_COUNT": str(max_receive_count),
            # Each concurrent environment paces the quota-bound Put* calls at quota / this (PERSONALIZE.md §2),
            # so a backlog drains at the 10 calls/s ceiling instead of in throttle storms.
            "MAX_CONCURRENCY": str(max_concurrency),
            **POWERTOOLS_ENVIRONMENT,
        }
        self.function = lambda_.Function(
            self,
            "Function",
            description="Writes the changes published to the ingest queue into Amazon Personalize",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(LAMBDAS_ROOT), exclude=list(ASSET_EXCLUDES)),
            layers=[
                lambda_.LayerVersion.from_layer_version_arn(
                    self, "PowertoolsLayer", powertools_layer_arn(powertools_layer_version)
                )
            ],
            timeout=Duration.seconds(function_timeout_seconds),
            memory_size=function_memory_mb,
            environment=environment,
            log_group=self.log_group,
            role=role,
        )
        # cdk-nag acknowledgements sit on the construct they concern. The "AwsSolutions::" prefix names the plugin,
        # so the validation report lists each one as a suppressed finding with its reason (the audit trail).
        Validations.of(self.function).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-L1",
                reason=(
                    "The runtime is pinned to Python 3.13 because the public Powertools v3 layer is pinned to its "
                    "python313-arm64 build; runtime and layer are upgraded together, deliberately."
                ),
            )
        )

        self.function.add_event_source(
            SqsEventSource(
                self.queue,
                batch_size=batch_size,
                max_batching_window=(
                    Duration.seconds(max_batching_window_seconds) if max_batching_window_seconds else None
                ),
                # The handler reports the records to retry in batchItemFailures; without this setting Lambda
                # would ignore that list and retry (or acknowledge) the whole batch.
                report_batch_item_failures=True,
                max_concurrency=max_concurrency,
            )
        )
        # The handler writes poison records to the dead-letter queue itself (DESIGN.md, Contract 3).
        self.dead_letter_queue.grant_send_messages(role)
        self._grant_personalize(role, datasets)
        depend_on_policy_only(self.function, role)

    def _grant_personalize(self, role: iam.Role, datasets: Sequence[DatasetTarget]) -> None:
        # Each Put* action on its own dataset only; never personalize:* (PERSONALIZE.md §5).
        for dataset in datasets:
            if dataset.kind.put_on_dataset:
                role.add_to_principal_policy(
                    iam.PolicyStatement(actions=[dataset.kind.put_action], resources=[dataset.dataset_arn])
                )
        # PutEvents and PutActionInteractions have no resource type in IAM: they can only be granted on "*". They
        # are granted only when their dataset is configured, and the tracking id decides where records land.
        unscoped = sorted(dataset.kind.put_action for dataset in datasets if not dataset.kind.put_on_dataset)
        if unscoped:
            role.add_to_principal_policy(iam.PolicyStatement(actions=unscoped, resources=["*"]))
            Validations.of(role).acknowledge(
                Acknowledgment(
                    id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                    reason=(
                        f"{' and '.join(unscoped)} have no resource type in IAM (Service Authorization Reference, "
                        "Amazon Personalize), so they can only be granted on '*'; they are granted only because "
                        "their dataset is configured, and the tracking id in the request decides the dataset."
                    ),
                )
            )
        # The handler validates a kind against the dataset's schema: DescribeDataset gives the schema ARN,
        # DescribeSchema the schema (DESIGN.md, Contract 2).
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["personalize:DescribeDataset"], resources=[dataset.dataset_arn for dataset in datasets]
            )
        )
        schema_arns = sorted({dataset.schema_arn for dataset in datasets})
        role.add_to_principal_policy(iam.PolicyStatement(actions=["personalize:DescribeSchema"], resources=schema_arns))
        findings = {
            dataset.schema_arn_finding: dataset.schema_arn_reason
            for dataset in datasets
            if dataset.schema_arn_finding and dataset.schema_arn_reason
        }
        for finding, reason in sorted(findings.items()):
            Validations.of(role).acknowledge(
                Acknowledgment(id=f"AwsSolutions::AwsSolutions-IAM5[Resource::{finding}]", reason=reason)
            )
