"""The ingest Lambda's entry point: ``ingest.handler.lambda_handler``.

Thin on purpose (STYLE.md): wire Powertools, build the runtime once per cold start from the environment
(DESIGN.md Contract 2), hand the batch to ``ingest.pipeline``, publish the counters, return the response.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from ingest.catalog import DatasetCatalog
from ingest.dead_letter import DeadLetterQueue
from ingest.pipeline import Runtime, process_batch
from ingest.send import PersonalizeEventsSink
from ingest.settings import Settings
from ingest.telemetry import Dimensions

SERVICE = "personalize-ingest"
NAMESPACE = "PersonalizeIngest"
# Keep time to write dead letters and answer: 10 % of the invocation's time, at least two seconds.
RESERVE_FRACTION = 0.1
RESERVE_MIN_S = 2.0

SERVICE_NAME = os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE
logger = Logger(service=SERVICE_NAME)
# The service is given explicitly, not left to Powertools' environment lookup: every metric must carry the
# ``service`` dimension, because the dashboard and alarms (stacks/monitoring.py) query by it.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE, service=SERVICE_NAME)

# The pipeline does its own retrying (it knows the invocation's deadline and which errors are poison), so the
# SDK must not retry underneath it; short timeouts keep a hung connection from eating the whole invocation.
_CLIENT_CONFIG = Config(
    retries={"total_max_attempts": 1, "mode": "standard"},
    connect_timeout=3,
    read_timeout=10,
    user_agent_extra="personalize-ingest",
)

_runtime: Runtime | None = None


def runtime_from_env() -> Runtime:
    """Build settings and clients from the environment. Clients are built plainly, so the standard
    ``AWS_ENDPOINT_URL_*`` variables point them at local stand-ins."""
    settings = Settings.from_env(os.environ)
    return Runtime(
        settings=settings,
        catalog=DatasetCatalog(client=boto3.client("personalize", config=_CLIENT_CONFIG)),
        sink=PersonalizeEventsSink(boto3.client("personalize-events", config=_CLIENT_CONFIG)),
        dead_letters=DeadLetterQueue(
            client=boto3.client("sqs", config=_CLIENT_CONFIG), queue_url=settings.dead_letter_queue_url
        ),
    )


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
    global _runtime  # noqa: PLW0603 - one runtime per execution environment, built on first use
    if _runtime is None:
        _runtime = runtime_from_env()
    runtime = _runtime
    remaining_s = context.get_remaining_time_in_millis() / 1000.0
    deadline = runtime.clock() + remaining_s - max(RESERVE_MIN_S, RESERVE_FRACTION * remaining_s)
    records = event.get("Records") or []
    # Disabled metrics are never flushed, so they would pile up until Powertools prints them at 100 values anyway.
    if not is_metrics_disabled():
        metrics.add_metric(name="BatchSize", unit=MetricUnit.Count, value=len(records))
    result = process_batch(records, runtime, deadline=deadline, log=logger)
    result.telemetry.publish(_PowertoolsSink())
    return result.response()
