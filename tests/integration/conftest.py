"""Integration fixtures: moto's SQS server on a free loopback port, and fresh queue + DLQ pairs on it.

Every integration test talks HTTP to the stand-ins exactly as the Lambda would to AWS. The server is started
once per session (per xdist worker); each test creates its own uniquely named queues, so tests never see
each other's messages.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from local.sqs_server import QueuePair, SqsServer, create_queue_pair, make_sqs_client

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

REGION = "us-east-1"

# Dummy credentials and a fixed region for every client the tests (and the handler under test) build, and
# nothing from the developer's own AWS setup: no profile, no config files, no instance metadata lookups.
_TEST_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS")

QueuePairFactory = Callable[..., QueuePair]


@pytest.fixture(scope="session", autouse=True)
def aws_test_environment() -> Iterator[None]:
    """Dummy AWS credentials and region for the session, restored afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        for name in _UNSET:
            patch.delenv(name, raising=False)
        for name, value in _TEST_ENVIRONMENT.items():
            patch.setenv(name, value)
        yield


@pytest.fixture
def restored_environment() -> Iterator[None]:
    """The process environment as it was before the test: ``load_handler`` cold-starts a handler by writing its
    environment into ``os.environ``, and the next test must not inherit one pipeline's endpoints."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def sqs_endpoint(aws_test_environment: None) -> Iterator[str]:
    """moto's server on a free 127.0.0.1 port, for the session; yields its endpoint URL."""
    with SqsServer(port=0) as server:
        yield server.endpoint_url


@pytest.fixture(scope="session")
def sqs_client(sqs_endpoint: str) -> SQSClient:
    """An SQS client for ``sqs_endpoint`` (pool sized for a runner's pollers plus the test's own calls)."""
    return make_sqs_client(sqs_endpoint, region_name=REGION, max_pool_connections=32)


@pytest.fixture
def make_queue_pair(sqs_client: SQSClient) -> Iterator[QueuePairFactory]:
    """A factory for a fresh, uniquely named queue and DLQ wired by a redrive policy; deleted after the test.

    Call it as ``make_queue_pair(fifo=False, visibility_timeout_s=1, max_receive_count=3)``: the short
    visibility timeout redelivers a failed message after one second, so retry tests stay fast.
    """
    created: list[QueuePair] = []

    def factory(*, fifo: bool = False, visibility_timeout_s: int = 1, max_receive_count: int = 3) -> QueuePair:
        pair = create_queue_pair(
            sqs_client,
            name=f"it-{uuid.uuid4().hex[:16]}",
            fifo=fifo,
            visibility_timeout_s=visibility_timeout_s,
            max_receive_count=max_receive_count,
        )
        created.append(pair)
        return pair

    yield factory
    for pair in created:
        for url in (pair.url, pair.dlq_url):
            sqs_client.delete_queue(QueueUrl=url)
