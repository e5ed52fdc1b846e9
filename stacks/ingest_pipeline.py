"""The ingest pipeline: the ingest queue, its dead-letter queue, the ingest Lambda and the event source between them.

This construct is the infrastructure half of the ingest unit; ``lambdas/ingest/`` is its runtime half. It owns
everything the handler relies on (docs/contracts.md §2 and §3): the environment it reads, the dead-letter
queue it writes poison records to, the redrive limit it dead-letters ``RetriesExhausted`` on, and an IAM policy
that allows exactly the calls the handler makes, on exactly the datasets it is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk.aws_lambda_event_sources import SqsEventSource
from constructs import Construct

import contract
from stacks.config import DatasetKind, render_put_quotas
from stacks.lambda_packaging import ARCHITECTURE, RUNTIME, lambdas_asset, runtime_layer
from stacks.policy_dependency import depend_on_policy_only

HANDLER: Final = "ingest.handler.lambda_handler"

# Powertools' own settings (https://docs.powertools.aws.dev/lambda/python/latest/#environment-variables): the
# service and namespace every metric is published under, which the dashboard and alarms read (contract).
POWERTOOLS_ENVIRONMENT: Final[Mapping[str, str]] = {
    contract.POWERTOOLS_SERVICE_NAME: contract.SERVICE_NAME,
    contract.POWERTOOLS_METRICS_NAMESPACE: contract.METRICS_NAMESPACE,
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
        Records per invocation; also passed to the handler (a batch that arrives full means more is waiting).
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
    fifo
        Make both queues FIFO queues (a FIFO queue's dead-letter queue must be FIFO too), with high-throughput
        settings: deduplication and throughput are per message group, and the publisher groups by record.
    put_quotas
        Put* API -> calls per second the handler paces to instead of the contract's quotas (``PUT_QUOTAS``);
        empty or ``None`` sets no ``PUT_QUOTAS``.

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
        fifo: bool = False,
        put_quotas: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if not datasets:
            raise ValueError("IngestPipeline needs at least one dataset to write to")

        self.dead_letter_queue, self.queue = self._queues(
            fifo=fifo,
            max_receive_count=max_receive_count,
            visibility_timeout_seconds=queue_visibility_timeout_seconds(
                function_timeout_seconds=function_timeout_seconds,
                max_batching_window_seconds=max_batching_window_seconds,
            ),
        )
        self.log_group = logs.LogGroup(self, "LogGroup", retention=log_retention)
        role = self._role()
        self.function = self._function(
            role,
            environment=self._environment(
                datasets,
                max_receive_count=max_receive_count,
                max_concurrency=max_concurrency,
                batch_size=batch_size,
                put_quotas=put_quotas or {},
            ),
            timeout_seconds=function_timeout_seconds,
            memory_mb=function_memory_mb,
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
        # The handler writes poison records to the dead-letter queue itself (docs/contracts.md §3).
        self.dead_letter_queue.grant_send_messages(role)
        self._grant_personalize(role, datasets)
        depend_on_policy_only(self.function, role)

    def _queues(
        self, *, fifo: bool, max_receive_count: int, visibility_timeout_seconds: int
    ) -> tuple[sqs.Queue, sqs.Queue]:
        """The dead-letter queue, then the ingest queue that redrives to it after ``max_receive_count`` deliveries."""
        dead_letter_queue = _queue(self, "DeadLetterQueue", fifo=fifo, retention_period=DEAD_LETTER_RETENTION)
        queue = _queue(
            self,
            "Queue",
            fifo=fifo,
            retention_period=INGEST_RETENTION,
            visibility_timeout=Duration.seconds(visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letter_queue, max_receive_count=max_receive_count),
        )
        return dead_letter_queue, queue

    def _role(self) -> iam.Role:
        # An explicit role instead of the one Function makes: that one carries the AWSLambdaBasicExecutionRole
        # managed policy, which may write to every log group in the account. This one writes to its own.
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Ingest Lambda: read the ingest queue, write to Personalize and the dead-letter queue",
        )
        self.log_group.grant_write(role)
        return role

    def _environment(
        self,
        datasets: Sequence[DatasetTarget],
        *,
        max_receive_count: int,
        max_concurrency: int,
        batch_size: int,
        put_quotas: Mapping[str, float],
    ) -> dict[str, str]:
        """The handler's environment (docs/contracts.md §2): the datasets' ARNs and tracking ids, the DLQ, limits."""
        return {
            **{dataset.kind.env_var: dataset.dataset_arn for dataset in datasets},
            **{
                dataset.kind.tracking_env: dataset.tracking_id
                for dataset in datasets
                if dataset.kind.tracking_env and dataset.tracking_id
            },
            contract.DEAD_LETTER_QUEUE_URL: self.dead_letter_queue.queue_url,
            contract.MAX_RECEIVE_COUNT: str(max_receive_count),
            # Each concurrent environment paces the quota-bound Put* calls at quota / this (docs/personalize.md §2),
            # so a backlog drains at the 10 calls/s ceiling instead of in throttle storms.
            contract.MAX_CONCURRENCY: str(max_concurrency),
            # A batch that arrives full means more is waiting: the handler may defer a partial last Put* call
            # (docs/design.md "Throughput").
            contract.BATCH_SIZE: str(batch_size),
            **({contract.PUT_QUOTAS: render_put_quotas(put_quotas)} if put_quotas else {}),
            **POWERTOOLS_ENVIRONMENT,
        }

    def _function(
        self,
        role: iam.Role,
        *,
        environment: Mapping[str, str],
        timeout_seconds: int,
        memory_mb: int,
    ) -> lambda_.Function:
        function = lambda_.Function(
            self,
            "Function",
            description="Writes the changes published to the ingest queue into Amazon Personalize",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=HANDLER,
            code=lambdas_asset(),
            layers=[runtime_layer(self)],
            timeout=Duration.seconds(timeout_seconds),
            memory_size=memory_mb,
            environment=dict(environment),
            log_group=self.log_group,
            role=role,
        )
        # cdk-nag acknowledgements sit on the construct they concern. The "AwsSolutions::" prefix names the plugin,
        # so the validation report lists each one as a suppressed finding with its reason (the audit trail).
        Validations.of(function).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-L1",
                reason=(
                    "The runtime is pinned to Python 3.13, the Python the tests run on, and the layer of Powertools "
                    "and the AWS SDK is built for it; runtime, tests and layer are upgraded together, deliberately."
                ),
            )
        )
        return function

    def _grant_personalize(self, role: iam.Role, datasets: Sequence[DatasetTarget]) -> None:
        # Each Put* action on its own dataset only; never personalize:* (docs/personalize.md §5).
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
        # DescribeSchema the schema (docs/contracts.md §2).
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
