"""The whole pipeline on one machine: moto's SQS server, the Personalize emulator, queues and datasets.

``LocalPipeline`` is what ``make demo``, the benchmark and the integration tests stand on. It starts both
servers on free loopback ports, creates the ingest queue and its dead-letter queue (redrive policy included),
provisions a dataset group with a dataset per kind from ``schemas/`` through the stack's own custom resource
handlers (driven as CloudFormation would, ``local.cloudformation``), and hands out the ingest Lambda's
environment (docs/contracts.md §2) with the standard ``AWS_ENDPOINT_URL_*`` variables pointing at the
stand-ins, so the real handler runs unchanged.

``LocalPipeline.drain`` runs the event source a deployment gets unless told otherwise: the batch size, batching
window, maximum concurrency and function timeout the stack reads from ``stacks.config``
(:func:`deployment_event_source`). One exception, the queue's: the local queue's visibility timeout stays short
by default so a failed batch comes back within seconds, and the function timeout never exceeds it (Lambda refuses
that pair).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3

import contract
from local.cloudformation import CustomResourceDriver
from local.emulator import EmulatorConfig, EmulatorServer
from local.lambda_runtime import load_handler
from local.poller import RECEIVE_MAX
from local.report.recorder import TimelineRecorder
from local.run_summary import RunSummary
from local.runner import run_event_source
from local.sqs_server import QueuePair, SqsServer, create_queue_pair, make_sqs_client
from stacks.config import (
    BATCH_SIZE,
    FUNCTION_TIMEOUT_SECONDS,
    MAX_BATCHING_WINDOW_SECONDS,
    MAX_CONCURRENCY,
    MAX_RECEIVE_COUNT,
)
from stacks.config.settings import FIFO_BATCH_SIZE_MAX, FIFO_MAX_BATCHING_WINDOW_SECONDS
from stacks.personalize_properties import (
    dataset_group_properties,
    dataset_properties,
    event_tracker_properties,
    schema_properties,
)

REGION = "us-east-1"
SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
HANDLER = "ingest.handler.lambda_handler"
# Dummy credentials: a local stand-in must never receive real ones, and a laptop without any must work.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def personalize_client(service: str, endpoint_url: str) -> Any:
    """A boto3 client for ``personalize`` or ``personalize-events`` pointed at the emulator."""
    session = boto3.session.Session(
        region_name=REGION,
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    if service == "personalize":
        return session.client("personalize", endpoint_url=endpoint_url)
    return session.client("personalize-events", endpoint_url=endpoint_url)


@dataclass(slots=True)
class Provisioned:
    """ARNs and tracking ids of a provisioned dataset group."""

    dataset_group_arn: str
    datasets: dict[str, str] = field(default_factory=dict)
    event_tracking_id: str | None = None
    tracking_ids: dict[str, str] = field(default_factory=dict)


def provision(client: Any, *, name: str, kinds: tuple[str, ...]) -> Provisioned:
    """Provision a dataset group, a schema and dataset per kind and (for events) an event tracker.

    Through the stack's own custom resource handlers (``lambdas/resources/``), driven the way CloudFormation and
    the Provider framework drive them (``on_event``, then ``is_complete`` until done), with the properties the
    stack's ``PersonalizeDatasets`` construct gives them, in the template's dependency order: the group, then
    each schema and its dataset, then the tracker.

    Parameters
    ----------
    client
        A ``personalize`` client pointed at the emulator.
    name
        The dataset group's name (the datasets, schemas and tracker are named after it).
    kinds
        Message kinds (``contract.KIND_NAMES``) to provision a dataset for.

    Raises
    ------
    local.cloudformation.CustomResourceFailed
        A resource failed to provision; the reason is what CloudFormation would show.
    """
    driver = CustomResourceDriver.for_client(client)
    group_properties = dataset_group_properties(name=name, domain=None, kms_key_arn=None, role_arn=None)
    group = driver.create(contract.DATASET_GROUP_RESOURCE_TYPE, group_properties)
    result = Provisioned(dataset_group_arn=group.arn)
    for kind_name in kinds:
        kind = contract.KIND_SPECS[kind_name]
        document = (SCHEMAS / kind.schema_file).read_text()
        schema = driver.create(
            contract.SCHEMA_RESOURCE_TYPE,
            schema_properties(group_name=name, dataset_type=kind.dataset_type, document=document, domain=None),
        )
        dataset = driver.create(
            contract.DATASET_RESOURCE_TYPE,
            dataset_properties(
                group_name=name, group_arn=group.arn, dataset_type=kind.dataset_type, schema_arn=schema.arn
            ),
        )
        result.datasets[kind_name] = dataset.arn
        # The Action interactions dataset comes with a tracker of its own (the stack passes its TrackingId too).
        if "TrackingId" in dataset.data:
            result.tracking_ids[kind_name] = dataset.data["TrackingId"]
    if "event" in kinds:
        tracker = driver.create(
            contract.EVENT_TRACKER_RESOURCE_TYPE, event_tracker_properties(group_name=name, group_arn=group.arn)
        )
        result.event_tracking_id = tracker.data["TrackingId"]
        result.tracking_ids["event"] = tracker.data["TrackingId"]
    return result


def default_window(batch_size: int) -> float:
    """Lambda's smallest batching window for a batch size: 1 s above 10 records, none up to 10."""
    return 1.0 if batch_size > RECEIVE_MAX else 0.0


@dataclass(frozen=True, slots=True)
class EventSourceSettings:
    """The ingest function's event source and timeout, as ``run_event_source`` takes them."""

    batch_size: int
    batching_window_s: float
    max_concurrency: int
    function_timeout_s: float


def deployment_event_source(*, fifo: bool) -> EventSourceSettings:
    """The event source a deployment gets: the defaults ``stacks.config`` gives ``batchSize``,
    ``maxBatchingWindowSeconds``, ``maxConcurrency`` and ``functionTimeoutSeconds`` (cdk.json ships the same
    values). A FIFO queue takes Lambda's FIFO batch limit and no window instead, as ``PipelineConfig.from_context``
    gives it."""
    return EventSourceSettings(
        batch_size=FIFO_BATCH_SIZE_MAX if fifo else BATCH_SIZE.default,
        batching_window_s=float(FIFO_MAX_BATCHING_WINDOW_SECONDS if fifo else MAX_BATCHING_WINDOW_SECONDS.default),
        max_concurrency=MAX_CONCURRENCY.default,
        function_timeout_s=float(FUNCTION_TIMEOUT_SECONDS.default),
    )


class LocalPipeline:
    """Both stand-ins, the queues and the datasets, as a context manager.

    Parameters
    ----------
    kinds:
        Message kinds to provision a dataset for (the others are answered DatasetNotConfigured).
    emulator_config:
        Emulator settings (faults, quotas, lifecycle delays).
    visibility_timeout_s, max_receive_count, fifo:
        The ingest queue's settings: the redrive limit is the deployment's by default; the visibility timeout is
        short, so a failed batch comes back within seconds (a deployment's is six function timeouts).
    """

    def __init__(
        self,
        *,
        kinds: tuple[str, ...] = ("item", "action"),
        emulator_config: EmulatorConfig | None = None,
        visibility_timeout_s: int = 6,
        max_receive_count: int = MAX_RECEIVE_COUNT.default,
        fifo: bool = False,
    ) -> None:
        self.kinds = kinds
        self._emulator_config = emulator_config or EmulatorConfig(create_delay=0.05, delete_delay=0.05)
        self._visibility_timeout_s = visibility_timeout_s
        self._max_receive_count = max_receive_count
        self._fifo = fifo
        self.sqs_server = SqsServer()
        self.emulator = EmulatorServer(config=self._emulator_config)
        self.name = f"local-{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> LocalPipeline:
        self.sqs_server.start()
        self.emulator.start()
        try:
            self.sqs = make_sqs_client(self.sqs_server.endpoint_url)
            self.queues: QueuePair = create_queue_pair(
                self.sqs,
                name=self.name,
                fifo=self._fifo,
                visibility_timeout_s=self._visibility_timeout_s,
                max_receive_count=self._max_receive_count,
            )
            self.personalize = personalize_client("personalize", self.emulator.endpoint_url)
            self.provisioned = provision(self.personalize, name=self.name, kinds=self.kinds)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop both servers (idempotent)."""
        self.emulator.stop()
        self.sqs_server.stop()

    def handler_environment(self, *, max_concurrency: int = 1, batch_size: int | None = None) -> dict[str, str]:
        """The ingest Lambda's environment (docs/contracts.md §2) for the provisioned datasets, plus endpoints and
        dummy credentials for the stand-ins.

        ``max_concurrency`` and ``batch_size`` are the event source's, as the stack passes them: each execution
        environment starts pacing at quota / ``max_concurrency``, and defers partial calls of a full batch.
        """
        env = {
            **DUMMY_CREDENTIALS,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL_SQS": self.sqs_server.endpoint_url,
            "AWS_ENDPOINT_URL_PERSONALIZE": self.emulator.endpoint_url,
            "AWS_ENDPOINT_URL_PERSONALIZE_EVENTS": self.emulator.endpoint_url,
            contract.DEAD_LETTER_QUEUE_URL: self.queues.dlq_url,
            contract.MAX_RECEIVE_COUNT: str(self._max_receive_count),
            contract.MAX_CONCURRENCY: str(max_concurrency),
            contract.POWERTOOLS_SERVICE_NAME: contract.SERVICE_NAME,
            contract.POWERTOOLS_METRICS_NAMESPACE: contract.METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            # EMF lines are for CloudWatch; locally they would drown the report.
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
        if batch_size is not None:
            env[contract.BATCH_SIZE] = str(batch_size)
        for kind_name, dataset_arn in self.provisioned.datasets.items():
            env[contract.KIND_SPECS[kind_name].dataset_env] = dataset_arn
        for kind_name, tracking_id in self.provisioned.tracking_ids.items():
            tracking_env = contract.KIND_SPECS[kind_name].tracking_env
            if tracking_env:
                env[tracking_env] = tracking_id
        return env

    def drain(
        self,
        *,
        max_concurrency: int | None = None,
        batch_size: int | None = None,
        batching_window_s: float | None = None,
        function_timeout_s: float | None = None,
        max_seconds: float = 120.0,
        extra_environment: dict[str, str] | None = None,
        recorder: TimelineRecorder | None = None,
    ) -> RunSummary:
        """Run the real ingest handler over the queue until it is drained (or ``max_seconds`` pass).

        Each of the ``max_concurrency`` pollers invokes a handler of its own, cold-started apart: an execution
        environment each, as on Lambda. A setting not given is the deployment's (:func:`deployment_event_source`),
        each on its own: ``batch_size=10`` alone keeps the deployment's window. The function timeout not given is
        the deployment's, but at most the queue's visibility timeout: Lambda refuses a mapping whose function
        outlives the visibility timeout, and this queue's is short by default (``visibility_timeout_s``) so that
        failed batches come back within seconds rather than a deployment's minutes. ``recorder`` sees every
        invocation (its start, end and batch), for the local report.
        """
        deployed = deployment_event_source(fifo=self._fifo)
        concurrency = deployed.max_concurrency if max_concurrency is None else max_concurrency
        size = deployed.batch_size if batch_size is None else batch_size
        environment = {
            **self.handler_environment(max_concurrency=concurrency, batch_size=size),
            **(extra_environment or {}),
        }
        handlers = [load_handler(HANDLER, environment) for _ in range(concurrency)]
        if recorder is not None:
            handlers = [recorder.observe(handler) for handler in handlers]
        return run_event_source(
            queue_url=self.queues.url,
            handler=handlers,
            sqs_client=self.sqs,
            batch_size=size,
            batching_window_s=deployed.batching_window_s if batching_window_s is None else batching_window_s,
            max_concurrency=concurrency,
            function_timeout_s=(
                min(deployed.function_timeout_s, self._visibility_timeout_s)
                if function_timeout_s is None
                else function_timeout_s
            ),
            wait_time_s=1,
            max_seconds=max_seconds,
        )

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every message in the DLQ with its attributes (received, then made visible again)."""
        letters: dict[str, dict[str, Any]] = {}
        handles: list[str] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queues.dlq_url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
                VisibilityTimeout=30,
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not batch:
                break
            for message in batch:
                attributes = {
                    name: value.get("StringValue", "") for name, value in message.get("MessageAttributes", {}).items()
                }
                letters[message["MessageId"]] = {
                    "body": message["Body"],
                    "MessageId": message["MessageId"],
                    "SentTimestamp": message["Attributes"]["SentTimestamp"],
                    **attributes,
                }
                handles.append(message["ReceiptHandle"])
        # Make them visible again: reading the DLQ must not hide it from the next reader.
        for start in range(0, len(handles), 10):
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queues.dlq_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for index, handle in enumerate(handles[start : start + 10])
                ],
            )
        return list(letters.values())

    def queue_depth(self) -> int:
        """Visible plus in-flight messages in the ingest queue."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queues.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
