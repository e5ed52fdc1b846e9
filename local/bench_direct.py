"""The benchmark without SQS in the way: one execution environment invoked directly with batches of a stream.

``invoke_directly`` hands a handler the stream as Lambda SQS events, batch after batch, in one thread: what one
execution environment does on a backlog, minus the polling. ``measure_cpu`` does the same against an emulator in
a process of its own, so the CPU time of this process is the handler's alone (its pool threads included).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import contract
from local.environment import DUMMY_CREDENTIALS, REGION, personalize_client, provision
from local.lambda_runtime import Handler, LambdaContext, log_stream_name
from local.sqs_event import SqsRecord, build_record

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from local.demo import Published

__all__ = ["DirectRun", "direct_environment", "invoke_directly", "separate_emulator"]

ROOT = Path(__file__).resolve().parents[1]
QUEUE_ARN = f"arn:aws:sqs:{REGION}:123456789012:bench-direct"
# Direct invocations write no dead letters on a clean stream; the handler still needs somewhere to send them.
UNUSED_DLQ = f"https://sqs.{REGION}.amazonaws.com/123456789012/bench-direct-dlq"


@dataclass(frozen=True, slots=True)
class DirectRun:
    """What invoking one environment directly came to: message id → message, wall and CPU time, invocations."""

    sent: dict[str, Published]
    failed: set[str]
    wall_time_s: float
    cpu_time_s: float
    invocations: int


def _message(published: Published, sent_at_ms: int) -> MessageTypeDef:
    body = published.body
    return {
        "MessageId": str(uuid.uuid4()),
        "ReceiptHandle": uuid.uuid4().hex,
        "MD5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "Body": body,
        "Attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(sent_at_ms),
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": str(sent_at_ms),
        },
    }


def invoke_directly(
    handler: Handler, stream: Sequence[Published], *, batch_size: int, function_timeout_s: float = 60.0
) -> DirectRun:
    """Invoke ``handler`` with ``stream`` in batches of ``batch_size``, one after the other; time it."""
    now_ms = int(time.time() * 1000)
    messages = [_message(published, now_ms + index) for index, published in enumerate(stream)]
    sent = {message["MessageId"]: published for message, published in zip(messages, stream, strict=True)}
    batches: list[list[SqsRecord]] = [
        [build_record(message, queue_arn=QUEUE_ARN, region=REGION) for message in messages[start : start + batch_size]]
        for start in range(0, len(messages), batch_size)
    ]
    stream_name = log_stream_name()
    failed: set[str] = set()
    started, cpu_started = time.monotonic(), time.process_time()
    for records in batches:
        context = LambdaContext(
            function_name="ingest",
            region=REGION,
            account_id="123456789012",
            timeout_s=function_timeout_s,
            memory_limit_in_mb=512,
            log_stream_name=stream_name,
        )
        response: Any = handler({"Records": records}, context)
        if isinstance(response, dict):
            failed.update(entry["itemIdentifier"] for entry in response.get("batchItemFailures", []))
    return DirectRun(
        sent=sent,
        failed=failed,
        wall_time_s=time.monotonic() - started,
        cpu_time_s=time.process_time() - cpu_started,
        invocations=len(batches),
    )


# CPU is measured, not the quotas: the emulator and the handler both allow far more calls than a run makes.
UNLIMITED_QUOTA = 1_000_000


@contextmanager
def separate_emulator(*, latency_s: float = 0.0) -> Iterator[str]:
    """A Personalize emulator in a process of its own (``python -m local.emulator``), without request-rate quotas;
    yields its endpoint."""
    command = [sys.executable, "-m", "local.emulator", "--create-delay", "0.05", "--delete-delay", "0.05"]
    for api in contract.APIS:
        command += ["--quota", f"{api}={UNLIMITED_QUOTA}"]
    if latency_s:
        command += ["--latency", str(latency_s)]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=dict(os.environ)
    )
    try:
        assert process.stdout is not None
        endpoint = process.stdout.readline().strip()
        if not endpoint.startswith("http"):
            raise RuntimeError("the emulator did not start")
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def direct_environment(endpoint: str, kinds: tuple[str, ...]) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Provision ``kinds`` on the emulator at ``endpoint``; return the handler's environment, the datasets and the
    tracking ids (for the baseline)."""
    provisioned = provision(
        personalize_client("personalize", endpoint), name=f"cpu-{uuid.uuid4().hex[:8]}", kinds=kinds
    )
    env = {
        **DUMMY_CREDENTIALS,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_PERSONALIZE": endpoint,
        "AWS_ENDPOINT_URL_PERSONALIZE_EVENTS": endpoint,
        contract.DEAD_LETTER_QUEUE_URL: UNUSED_DLQ,
        contract.MAX_RECEIVE_COUNT: "5",
        contract.MAX_CONCURRENCY: "1",
        contract.PUT_QUOTAS: ",".join(f"{api}={UNLIMITED_QUOTA}" for api in contract.APIS),
        contract.POWERTOOLS_SERVICE_NAME: contract.SERVICE_NAME,
        contract.POWERTOOLS_METRICS_NAMESPACE: contract.METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    for kind_name, dataset_arn in provisioned.datasets.items():
        env[contract.KIND_SPECS[kind_name].dataset_env] = dataset_arn
    for kind_name, tracking_id in provisioned.tracking_ids.items():
        tracking_env = contract.KIND_SPECS[kind_name].tracking_env
        if tracking_env:
            env[tracking_env] = tracking_id
    return env, dict(provisioned.datasets), dict(provisioned.tracking_ids)
