"""Fixtures of the tools' tests: moto's SQS server on loopback, fresh queue pairs, and the Personalize emulator.

The tool talks HTTP to them exactly as it would to AWS. moto's server is started once per session (per xdist
worker) in this process; each test makes its own uniquely named queues, so tests never see each other's messages.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Final, TypedDict

import boto3
import pytest
from botocore.config import Config

from contract import KIND_SPECS
from local.emulator import EmulatorConfig, EmulatorServer
from local.sqs_server import QueuePair, SqsServer, create_queue_pair
from tests.emulator.emulator_helpers import Setup
from tests.tools.dlq_support import ITEMS_V1

REGION = "us-east-1"


class Credentials(TypedDict):
    """Dummy credentials, as keyword arguments of ``boto3.client``."""

    aws_access_key_id: str
    aws_secret_access_key: str


CREDENTIALS: Final[Credentials] = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
# One attempt: moto's server answers operations it lacks (StartMessageMoveTask) with HTTP 500, which the standard
# retry mode would retry with backoff; the tests want the answer, not the wait.
ONE_ATTEMPT = Config(retries={"mode": "standard", "total_max_attempts": 1})

QueuePairFactory = Callable[..., QueuePair]


@pytest.fixture(autouse=True)
def _no_ambient_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and a fixed region; nothing from the developer's own AWS setup."""
    endpoints = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_PERSONALIZE", "AWS_ENDPOINT_URL_LAMBDA")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", *endpoints):
        monkeypatch.delenv(name, raising=False)
    # The ingest Lambda's variables (docs/contracts.md §2), which replay reads from the shell by default.
    for kind in KIND_SPECS.values():
        monkeypatch.delenv(kind.dataset_env, raising=False)
        monkeypatch.delenv(kind.target_env, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def sqs_endpoint() -> Iterator[str]:
    """moto's server on a free 127.0.0.1 port, for the session."""
    with SqsServer(port=0) as server:
        yield server.endpoint_url


@pytest.fixture
def sqs(sqs_endpoint: str) -> Any:
    """A plain SQS client for moto's server."""
    return boto3.client("sqs", endpoint_url=sqs_endpoint, region_name=REGION, config=ONE_ATTEMPT, **CREDENTIALS)


@pytest.fixture
def make_queues(sqs: Any) -> Iterator[QueuePairFactory]:
    """A factory of fresh ingest queue + DLQ pairs wired by a redrive policy; deleted after the test."""
    created: list[QueuePair] = []

    def factory(*, fifo: bool = False) -> QueuePair:
        pair = create_queue_pair(sqs, name=f"tool-{uuid.uuid4().hex[:12]}", fifo=fifo, visibility_timeout_s=1)
        created.append(pair)
        return pair

    yield factory
    for pair in created:
        for url in (pair.url, pair.dlq_url):
            sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def queues(make_queues: QueuePairFactory) -> QueuePair:
    """A standard ingest queue and its DLQ."""
    return make_queues()


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """The Personalize emulator on a free loopback port, with short lifecycles."""
    with EmulatorServer(port=0, config=EmulatorConfig(create_delay=0.02, delete_delay=0.02)) as server:
        yield server


@pytest.fixture
def personalize(emulator: EmulatorServer) -> Any:
    """A plain ``personalize`` client for the emulator."""
    return boto3.client(
        "personalize", endpoint_url=emulator.endpoint_url, region_name=REGION, config=ONE_ATTEMPT, **CREDENTIALS
    )


@pytest.fixture
def items_dataset(personalize: Any) -> tuple[str, Setup]:
    """An Items dataset on the emulator whose schema has no COLOR field yet."""
    setup = Setup(personalize)
    return setup.dataset("Items", schema=setup.schema(fields=ITEMS_V1)), setup
