"""Handler tests: realistic SQS events through ``lambda_handler``; moto for SQS, in-memory fakes for Personalize."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from moto import mock_aws

import contract
from contract import KIND_SPECS, KINDS_BY_API
from ingest import handler
from ingest.catalog import DatasetCatalog
from ingest.clients import ClientLadder
from ingest.dead_letter import DeadLetterQueue
from ingest.pipeline import Runtime
from ingest.send import Pacer, PersonalizeEventsSink
from ingest.settings import Settings
from tests.support.fakes import (
    DATASETS,
    FakeClock,
    FakePersonalizeControl,
    FakePersonalizeEvents,
    LambdaContextStub,
    TimedSqs,
    timeouts,
)

# An invocation short enough that retrying a failing Personalize gives up quickly: 1 s of sending after the handler's
# reserve (3 s at least: ingest.handler.RESERVE_MIN_S) for dead letters and its answer.
SHORT_INVOCATION_MS = 4_000


def failures(response: dict[str, list[dict[str, str]]]) -> list[str]:
    """The message ids a handler response reports for redelivery, in its order."""
    return [entry["itemIdentifier"] for entry in response["batchItemFailures"]]


@dataclass
class Harness:
    """One handler under test, its fakes, and its dead-letter queue on moto."""

    events: FakePersonalizeEvents
    control: FakePersonalizeControl
    clock: FakeClock
    sqs: Any
    dlq_url: str
    runtime: Runtime

    def invoke(self, event: dict[str, Any], remaining_ms: int = 60_000) -> dict[str, Any]:
        response: dict[str, Any] = handler.lambda_handler(event, LambdaContextStub(remaining_ms))
        return response

    def dead_letters(self) -> list[dict[str, Any]]:
        letters: list[dict[str, Any]] = []
        while True:
            response = self.sqs.receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
            )
            batch = response.get("Messages", [])
            if not batch:
                return letters
            for message in batch:
                attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
                letters.append({"body": message["Body"], **attributes})
                self.sqs.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=message["ReceiptHandle"])

    def sent_ids(self, api: str = "PutItems") -> list[str]:
        """The ids of the records sent with ``api``, in call order: the record id, or an interaction's eventId."""
        spec = KINDS_BY_API[api]
        id_field = spec.id_field or "eventId"
        return [
            record[id_field]
            for called, kwargs in self.events.calls
            if called == api
            for record in kwargs[spec.list_field]
        ]

    def accepted_properties(self, record_id: str) -> dict[str, Any]:
        for record in self.events.accepted:
            if record.get("itemId", record.get("actionId")) == record_id:
                return dict(json.loads(record["properties"]))
        raise AssertionError(f"{record_id} was not accepted")


@pytest.fixture(autouse=True)
def fresh_runtime() -> Iterator[None]:
    """Every test starts as a cold start would, and leaves no runtime behind for the next one."""
    handler.use_runtime(None)
    yield
    handler.use_runtime(None)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        contract.POWERTOOLS_METRICS_NAMESPACE: contract.METRICS_NAMESPACE,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


# The Lambda's environment (docs/contracts.md §2) as the stack sets it: every kind's dataset, the events' tracking id
# (the action interactions' is read from DescribeDataset), the DLQ and the redrive limit.
EVENT_TRACKING_ID = "event-tracker-1"
MAX_RECEIVE_COUNT = 5


def lambda_environment(dead_letter_queue_url: str) -> dict[str, str]:
    env = {spec.dataset_env: DATASETS[spec.dataset_type] for spec in KIND_SPECS.values()}
    env[KIND_SPECS["event"].target_env] = EVENT_TRACKING_ID
    env[contract.DEAD_LETTER_QUEUE_URL] = dead_letter_queue_url
    env[contract.MAX_RECEIVE_COUNT] = str(MAX_RECEIVE_COUNT)
    return env


def make_harness(
    *,
    without: tuple[str, ...] = (),
    dead_letter_queue_url: str | None = None,
    dead_letter_client: Callable[[Any], Any] | None = None,
    dead_letter_latency_s: float = 0.0,
    fifo: bool = False,
    clock: FakeClock | None = None,
    **events_kwargs: Any,
) -> Harness:
    """A handler wired to fakes. ``without`` drops variables of the Lambda's environment; a DLQ URL may point nowhere;
    ``dead_letter_client`` wraps the moto SQS client the handler writes dead letters with (to inject faults);
    ``dead_letter_latency_s`` makes each dead-letter write take that long on the harness's clock; ``fifo`` makes
    the DLQ a FIFO queue (a FIFO ingest queue needs one); ``clock`` replaces the harness's ``FakeClock``.

    Personalize's clients come from a ``ClientLadder``, as in the handler: each call gets the read timeout the
    time left allows, which the fake honours when given a ``latency_s`` (time passes on the harness's clock)."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq_name = f"dlq-{random.randrange(10**9)}" + (".fifo" if fifo else "")
    dlq_url = sqs.create_queue(QueueName=dlq_name, Attributes={"FifoQueue": "true"} if fifo else {})["QueueUrl"]
    env = lambda_environment(dead_letter_queue_url or dlq_url)
    settings = Settings.from_env({name: value for name, value in env.items() if name not in without})
    clock = clock or FakeClock()
    events, control = FakePersonalizeEvents(**{"clock": clock, **events_kwargs}), FakePersonalizeControl()
    dead_letter_sqs = dead_letter_client(sqs) if dead_letter_client else sqs
    runtime = Runtime(
        settings=settings,
        catalog=DatasetCatalog(client=control, clock=clock),
        sink=PersonalizeEventsSink(ClientLadder(events.bounded)),
        dead_letters=DeadLetterQueue(
            client=ClientLadder(
                lambda config: TimedSqs(dead_letter_sqs, clock, dead_letter_latency_s, timeouts(config)[1])
            )
            if dead_letter_latency_s
            else dead_letter_sqs,
            queue_url=settings.dead_letter_queue_url,
            clock=clock,
        ),
        pacer=Pacer(clock=clock, sleep=clock.sleep),
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(3),
    )
    handler.use_runtime(runtime)
    return Harness(events=events, control=control, clock=clock, sqs=sqs, dlq_url=dlq_url, runtime=runtime)


@pytest.fixture
def harness(aws_env: None) -> Harness:
    return make_harness()


class _Body:
    """The raw body botocore reads an ``AWSResponse`` from."""

    def __init__(self, content: bytes) -> None:
        self.content = content

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self.content


class PersonalizeOnTheWire:
    """Personalize behind the real ``personalize-events`` clients: it answers the requests botocore would send.

    Registered on the default boto3 session's ``before-send`` event, so every client built from it (the handler's
    ``client_ladder``) is answered here, after botocore serialised and signed the request, instead of over a socket.
    Like the service it refuses a record whose ``properties`` is not a string (InvalidInputException, 400) and
    accepts the rest, keeping them in ``accepted``.
    """

    def __init__(self) -> None:
        self.accepted: list[dict[str, Any]] = []
        self.requests: list[AWSPreparedRequest] = []

    def __call__(self, request: AWSPreparedRequest, **_kwargs: Any) -> AWSResponse:
        self.requests.append(request)
        body = json.loads(request.body if isinstance(request.body, bytes | str) else b"{}")
        records = [record for value in body.values() if isinstance(value, list) for record in value]
        if any(not isinstance(record.get("properties", ""), str) for record in records):
            error = {"__type": "InvalidInputException", "message": "1 validation error detected: properties"}
            return AWSResponse(request.url, 400, HTTPHeaders(), _Body(json.dumps(error).encode()))
        self.accepted.extend(records)
        return AWSResponse(request.url, 200, HTTPHeaders(), _Body(b"{}"))

    def user_agents(self) -> list[str]:
        """The User-Agent header of every request, in order."""
        return [_text(request.headers["User-Agent"]) for request in self.requests]


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


@pytest.fixture
def personalize_on_the_wire(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> PersonalizeOnTheWire:
    """Clients built from the default boto3 session answered by a ``PersonalizeOnTheWire``."""
    wire = PersonalizeOnTheWire()
    session = boto3.Session(region_name="us-east-1")
    # The stubs type an event handler as returning None; a before-send handler may answer the request instead.
    session.events.register("before-send.personalize-events", wire)  # type: ignore[arg-type]
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
    return wire
