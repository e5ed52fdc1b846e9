"""Handler tests: realistic SQS events through ``lambda_handler``; moto for SQS, in-memory fakes for Personalize."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

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
)

# An invocation short enough that retrying a failing Personalize gives up quickly: 1 s of sending after the handler's
# reserve (3 s at least: ingest.handler.RESERVE_MIN_S) for dead letters and its answer.
SHORT_INVOCATION_MS = 4_000


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
        id_field = {"PutItems": "itemId", "PutActions": "actionId", "PutUsers": "userId"}.get(api, "eventId")
        list_field = {"PutItems": "items", "PutActions": "actions", "PutUsers": "users", "PutEvents": "eventList"}[api]
        return [
            record[id_field] for called, kwargs in self.events.calls if called == api for record in kwargs[list_field]
        ]

    def accepted_properties(self, record_id: str) -> dict[str, Any]:
        for record in self.events.accepted:
            if record.get("itemId", record.get("actionId")) == record_id:
                return dict(json.loads(record["properties"]))
        raise AssertionError(f"{record_id} was not accepted")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_METRICS_NAMESPACE": "PersonalizeIngest",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


def make_harness(
    monkeypatch: pytest.MonkeyPatch,
    *,
    without: tuple[str, ...] = (),
    dead_letter_queue_url: str | None = None,
    dead_letter_client: Callable[[Any], Any] | None = None,
    dead_letter_latency_s: float = 0.0,
    fifo: bool = False,
    clock: FakeClock | None = None,
    **events_kwargs: Any,
) -> Harness:
    """A handler wired to fakes. ``without`` drops Contract 2 variables; a DLQ URL may point nowhere;
    ``dead_letter_client`` wraps the moto SQS client the handler writes dead letters with (to inject faults);
    ``dead_letter_latency_s`` makes each dead-letter write take that long on the harness's clock; ``fifo`` makes
    the DLQ a FIFO queue (a FIFO ingest queue needs one); ``clock`` replaces the harness's ``FakeClock``.

    Personalize's clients come from a ``ClientLadder``, as in the handler: each call gets the read timeout the
    time left allows, which the fake honours when given a ``latency_s`` (time passes on the harness's clock)."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq_name = f"dlq-{random.randrange(10**9)}" + (".fifo" if fifo else "")
    dlq_url = sqs.create_queue(QueueName=dlq_name, Attributes={"FifoQueue": "true"} if fifo else {})["QueueUrl"]
    env = {
        "ITEMS_DATASET_ARN": DATASETS["ITEMS"],
        "ACTIONS_DATASET_ARN": DATASETS["ACTIONS"],
        "USERS_DATASET_ARN": DATASETS["USERS"],
        "INTERACTIONS_DATASET_ARN": DATASETS["INTERACTIONS"],
        "EVENT_TRACKING_ID": "event-tracker-1",
        "ACTION_INTERACTIONS_DATASET_ARN": DATASETS["ACTION_INTERACTIONS"],
        "DEAD_LETTER_QUEUE_URL": dead_letter_queue_url or dlq_url,
        "MAX_RECEIVE_COUNT": "5",
    }
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
                lambda config: TimedSqs(dead_letter_sqs, clock, dead_letter_latency_s, config.read_timeout)
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
    monkeypatch.setattr(handler, "_runtime", runtime)
    return Harness(events=events, control=control, clock=clock, sqs=sqs, dlq_url=dlq_url, runtime=runtime)


@pytest.fixture
def harness(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Harness:
    return make_harness(monkeypatch)
