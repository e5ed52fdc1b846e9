"""The benchmark without SQS in the way: one execution environment invoked directly with batches of a stream.

``invoke_directly`` hands a handler the stream as Lambda SQS events, batch after batch, in one thread: what one
execution environment does on a backlog, minus the polling. ``measure_cpu`` does the same against an emulator in
a process of its own, so the CPU time of this process is the handler's alone (its pool threads included).
``metered_put_calls`` counts the Put* calls a run makes and the CPU their threads spend inside them, so that CPU
splits into what the SDK and the HTTP stack cost per call and what the handler's own work costs per record.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.client import BaseClient

import contract
from local.environment import DUMMY_CREDENTIALS, REGION, personalize_client, provision
from local.lambda_runtime import Handler, LambdaContext, log_stream_name
from local.sqs_event import SqsRecord, build_record

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from local.demo import Published

__all__ = ["DirectRun", "PutCalls", "direct_environment", "invoke_directly", "metered_put_calls", "separate_emulator"]

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
    put_calls: int = 0
    put_cpu_time_s: float = 0.0


@dataclass(slots=True)
class PutCalls:
    """The Put* calls made through botocore while ``metered_put_calls`` was on, and the thread CPU spent inside them
    (validation, serialization, signing, HTTP, parsing, and the GIL handoffs of their socket waits)."""

    calls: int = 0
    cpu_time_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, cpu_time_s: float) -> None:
        """One more call, which took ``cpu_time_s`` of its thread's CPU (calls end on several threads at once)."""
        with self._lock:
            self.calls += 1
            self.cpu_time_s += cpu_time_s


# The one method every botocore client call passes through, whichever client makes it (botocore's stubs leave it out).
BOTOCORE_CALL_PATH = "_make_api_call"


@contextmanager
def metered_put_calls() -> Iterator[PutCalls]:
    """Meter every Put* call any botocore client of this process makes until the block ends.

    botocore's ``BaseClient._make_api_call`` (``BOTOCORE_CALL_PATH``) is where a client method call starts and ends,
    whatever client made it (the handler builds its clients privately, at its cold start); it is wrapped for the
    block and restored after.
    Thread CPU is the calling thread's own, so calls running concurrently on a pool are each counted once.
    """
    metered = PutCalls()
    original = getattr(BaseClient, BOTOCORE_CALL_PATH)
    put_operations = frozenset(contract.APIS)

    def make_api_call(client: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        if operation_name not in put_operations:
            return original(client, operation_name, api_params)
        started = time.thread_time()
        try:
            return original(client, operation_name, api_params)
        finally:
            metered.add(time.thread_time() - started)

    setattr(BaseClient, BOTOCORE_CALL_PATH, make_api_call)
    try:
        yield metered
    finally:
        setattr(BaseClient, BOTOCORE_CALL_PATH, original)


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
    failed: set[str] = set()
    with metered_put_calls() as put_calls:
        wall_time_s, cpu_time_s = _invoke_batches(handler, batches, function_timeout_s, failed)
    return DirectRun(
        sent=sent,
        failed=failed,
        wall_time_s=wall_time_s,
        cpu_time_s=cpu_time_s,
        invocations=len(batches),
        put_calls=put_calls.calls,
        put_cpu_time_s=put_calls.cpu_time_s,
    )


def _invoke_batches(
    handler: Handler, batches: Sequence[list[SqsRecord]], function_timeout_s: float, failed: set[str]
) -> tuple[float, float]:
    """Invoke ``handler`` with each batch in turn, adding the messages it answers as failed to ``failed``; return
    the wall and the process CPU time it took."""
    stream_name = log_stream_name()
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
    return time.monotonic() - started, time.process_time() - cpu_started


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
