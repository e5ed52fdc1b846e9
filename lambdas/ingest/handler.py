"""The ingest Lambda's entry point: ``ingest.handler.lambda_handler``.

Thin on purpose (docs/conventions.md): wire Powertools, build the runtime once per cold start from the environment
(docs/contracts.md §2), hand the batch to ``ingest.pipeline``, publish the counters, return the response.
"""

from __future__ import annotations

import os
import threading
import warnings
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

import contract
from contract import Metric
from ingest.catalog import DatasetCatalog
from ingest.clients import ClientLadder, pin_user_agent
from ingest.concurrency import MAX_CALLS_IN_FLIGHT
from ingest.dead_letter import DeadLetterQueue
from ingest.defer import Requeue
from ingest.pacing import Pacer
from ingest.pipeline import Runtime, process_batch
from ingest.send import PersonalizeEventsSink
from ingest.settings import Settings
from ingest.telemetry import Dimensions

# The defaults when Powertools' own variables are unset: the names the dashboard and alarms query by.
SERVICE = contract.SERVICE_NAME
NAMESPACE = contract.METRICS_NAMESPACE
# An invocation that runs past Lambda's timeout fails its whole batch: every message comes back, those Personalize
# accepted included, and no dead letter is written. So the invocation's time is cut in three, each part bounded by
# the clients' timeouts (ingest.clients: no call starts that could end after its part does, CALL_MARGIN_S included):
#   sending (decode, DescribeDataset, the Put* calls)  until  the deadline = end - reserve
#   dead-letter writes                                   until  end - ANSWER_MARGIN_S
#   publishing the metrics and answering                 until  end
# The reserve is 10 % of the time, at least RESERVE_MIN_S. Sending may run right up to the deadline (a slow or
# throttling Personalize, which is when RetriesExhausted letters are due); the dead-letter writes then still get
# 2.5 s, so the first one goes through a client allowing 0.5 s to connect and 1.5 s to answer (SendMessageBatch
# takes tens of milliseconds when SQS is healthy): 2 s of timeouts, plus CALL_MARGIN_S (0.25 s) for building that
# client and what its timeouts do not bound, plus 0.25 s for the work between the deadline and that write
# (settling outcomes, packing letters). With the 10 s minimum function timeout that leaves 7 s of sending.
ANSWER_MARGIN_S = 0.5
RESERVE_FRACTION = 0.1
RESERVE_MIN_S = 3.0

SERVICE_NAME = os.environ.get(contract.POWERTOOLS_SERVICE_NAME) or SERVICE
logger = Logger(service=SERVICE_NAME)
# The service is given explicitly, not left to Powertools' environment lookup: every metric must carry the
# ``service`` dimension, because the dashboard and alarms (stacks/monitoring.py) query by it.
metrics = Metrics(namespace=os.environ.get(contract.POWERTOOLS_METRICS_NAMESPACE) or NAMESPACE, service=SERVICE_NAME)

# The pipeline does its own retrying (it knows the invocation's deadline and which errors are poison), so the
# SDK must not retry underneath it: one call then lasts at most its client's connect + read timeout, which the
# ClientLadder chooses from the time left (ingest.clients). A batch's calls go out concurrently
# (ingest.concurrency): each client keeps a connection for every call that may be in flight, not botocore's 10.
_CLIENT_CONFIG = Config(
    retries={"total_max_attempts": 1, "mode": "standard"},
    user_agent_extra="personalize-ingest",
    max_pool_connections=MAX_CALLS_IN_FLIGHT,
)

_runtime: Runtime | None = None


def use_runtime(runtime: Runtime | None) -> None:
    """Make the next invocations use ``runtime`` (a test's fakes, a local runner's clients); with None, the next
    invocation builds one from the environment, as a cold start does."""
    global _runtime  # noqa: PLW0603 - one runtime per execution environment
    _runtime = runtime


def runtime_from_env() -> Runtime:
    """Build settings and clients from the environment. Clients are built plainly, so the standard
    ``AWS_ENDPOINT_URL_*`` variables point them at local stand-ins."""
    settings = Settings.from_env(os.environ)
    sqs = client_ladder("sqs")
    return Runtime(
        settings=settings,
        catalog=DatasetCatalog(client=client_ladder("personalize")),
        sink=PersonalizeEventsSink(client_ladder("personalize-events")),
        dead_letters=DeadLetterQueue(client=sqs, queue_url=settings.dead_letter_queue_url),
        pacer=Pacer(quotas=settings.quotas, share=settings.max_concurrency or 1),
        requeue=Requeue(sqs),
    )


# Tiers are built on first use, possibly while another thread (the local runner's pollers share one handler)
# builds another service's: a boto3 session must not build two clients at once.
_CLIENT_BUILD_LOCK = threading.Lock()


def client_ladder(service: str) -> ClientLadder:
    """The clients of ``service`` the runtime calls it through: ``_CLIENT_CONFIG``, the User-Agent header fixed at
    the cold start (``ingest.clients.pin_user_agent``)."""

    def make(config: Config) -> Any:
        with _CLIENT_BUILD_LOCK:
            return boto3.client(service, config=config)  # type: ignore[call-overload]

    return ClientLadder(make, base=pin_user_agent(make, _CLIENT_CONFIG))


class _PowertoolsSink:
    """Publishes pipeline counters as EMF: one document per dimension set."""

    def emit(self, name: str, unit: str, value: float, dimensions: Dimensions) -> None:
        if is_metrics_disabled():  # single_metric prints even when POWERTOOLS_METRICS_DISABLED is set
            return
        if not dimensions:
            metrics.add_metric(name=name, unit=MetricUnit(unit), value=value)
            return
        with single_metric(
            name=name,
            unit=MetricUnit(unit),
            value=value,
            namespace=metrics.namespace,
            # Powertools' own dimension name, which Metrics adds to every other document.
            default_dimensions={"service": SERVICE_NAME},
        ) as metric:
            for key, dimension in dimensions:
                metric.add_dimension(name=key, value=dimension)


if is_metrics_disabled():
    # Switched off (the local runner and the demo): then every invocation has "no application metrics to publish",
    # which Powertools would warn about on each flush.
    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


# Powertools prints the cold-start metric even when POWERTOOLS_METRICS_DISABLED is set (local runs).
@metrics.log_metrics(capture_cold_start_metric=not is_metrics_disabled())
# log_event=False pins what POWERTOOLS_LOGGER_LOG_EVENT could turn on: the event holds bodies, i.e. property values.
# Records are correlated by their SQS message id, which every per-record log line carries as ``message_id``.
@logger.inject_lambda_context(clear_state=True, log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Process one SQS batch; answer with the messages SQS must redeliver."""
    runtime = _runtime
    if runtime is None:
        runtime = runtime_from_env()
        use_runtime(runtime)  # one runtime per execution environment, built on first use
    remaining_s = context.get_remaining_time_in_millis() / 1000.0
    now = runtime.clock()
    deadline = now + remaining_s - max(RESERVE_MIN_S, RESERVE_FRACTION * remaining_s)
    finish_by = now + remaining_s - ANSWER_MARGIN_S
    records = event.get("Records") or []
    # Disabled metrics are never flushed, so they would pile up until Powertools prints them at 100 values anyway.
    if not is_metrics_disabled():
        metrics.add_metric(name=Metric.BATCH_SIZE, unit=MetricUnit.Count, value=len(records))
    result = process_batch(records, runtime, deadline=deadline, finish_by=finish_by, log=logger)
    result.telemetry.publish(_PowertoolsSink())
    return result.response()
