"""End to end on a real AWS account: a deployed stack ingests good changes and dead-letters a bad one.

Opt-in (``make e2e``), never part of ``make test``: it needs credentials and a deployed stack, costs money and
takes minutes. Deploy a throwaway stack first, then point the tests at it::

    node_modules/.bin/cdk deploy -c stackName=PersonalizeIngestE2e -c datasetGroup='{"name": "ingest-e2e"}' \\
        -c removalPolicy=destroy
    E2E_STACK_NAME=PersonalizeIngestE2e make e2e
    node_modules/.bin/cdk destroy -c stackName=PersonalizeIngestE2e -c datasetGroup='{"name": "ingest-e2e"}' \\
        -c removalPolicy=destroy

Personalize has no API that reads a record back, so "accepted" is proven the way on-call would prove it: the
queue drains, nothing but the bad change reaches the dead-letter queue, and the function's own RecordsAccepted
metric counts the good ones.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tools.publisher import Publisher

pytestmark = pytest.mark.e2e

STACK_NAME = os.environ.get("E2E_STACK_NAME", "")
# The function drains a few dozen messages in seconds; the rest is SQS and CloudWatch latency.
DRAIN_TIMEOUT_S = 300
# EMF metrics reach CloudWatch a minute or two after the log line that carries them.
METRICS_TIMEOUT_S = 600
POLL_S = 10
GOOD_ITEMS = 25


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(POLL_S)


@pytest.fixture(scope="module")
def outputs() -> dict[str, str]:
    """The deployed stack's outputs (skips without E2E_STACK_NAME)."""
    if not STACK_NAME:
        pytest.skip("set E2E_STACK_NAME to a deployed stack (see this module's docstring)")
    stacks = boto3.client("cloudformation").describe_stacks(StackName=STACK_NAME)["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}


def queue_depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def take_dead_letters(sqs: Any, url: str, marker: str) -> list[dict[str, Any]]:
    """Receive the DLQ's messages; delete and return those whose body carries ``marker``, release the others."""
    mine: list[dict[str, Any]] = []
    others: list[str] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=60
        ).get("Messages", [])
        if not batch:
            break
        for message in batch:
            if marker in message["Body"]:
                mine.append(message)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            else:
                others.append(message["ReceiptHandle"])
    for handle in others:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return mine


def test_deployed_pipeline_ingests_good_items_and_dead_letters_a_schema_violation(outputs: dict[str, str]) -> None:
    sqs = boto3.client("sqs")
    run = uuid.uuid4().hex[:8]
    started = datetime.now(UTC) - timedelta(minutes=1)
    good = [
        {"type": "item", "itemId": f"e2e-{run}-{index}", "properties": {"price": 9.99, "genres": ["Test", "E2E"]}}
        for index in range(GOOD_ITEMS)
    ]
    bad = {"type": "item", "itemId": f"e2e-{run}-bad", "properties": {"price": "not a number"}}

    # GIVEN the stack's ingest queue, WHEN good items and one schema violation are published
    report = Publisher(outputs["IngestQueueUrl"], sqs_client=sqs).publish([*good, bad])
    assert report.unsent == []
    assert report.sent == GOOD_ITEMS + 1

    # THEN the ingest queue drains
    wait_for(lambda: queue_depth(sqs, outputs["IngestQueueUrl"]) == 0, DRAIN_TIMEOUT_S, "the ingest queue to drain")

    # AND the schema violation alone is in the dead-letter queue, body unchanged, with its reason
    letters = take_dead_letters(sqs, outputs["DeadLetterQueueUrl"], f"e2e-{run}")
    assert len(letters) == 1, [letter["Body"] for letter in letters]
    (letter,) = letters
    attributes = {name: value["StringValue"] for name, value in letter["MessageAttributes"].items()}
    assert attributes["ErrorCode"] == "SchemaViolation"
    assert "price" in attributes["ErrorMessage"].lower()
    assert attributes["SourceMessageId"]
    assert f"e2e-{run}-bad" in letter["Body"]

    # AND the function counted the good ones as accepted by PutItems
    cloudwatch = boto3.client("cloudwatch")

    def accepted() -> float:
        data = cloudwatch.get_metric_statistics(
            Namespace="PersonalizeIngest",
            MetricName="RecordsAccepted",
            Dimensions=[{"Name": "Api", "Value": "PutItems"}, {"Name": "service", "Value": "personalize-ingest"}],
            StartTime=started,
            EndTime=datetime.now(UTC) + timedelta(minutes=1),
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        return sum(point["Sum"] for point in data)

    wait_for(lambda: accepted() >= GOOD_ITEMS, METRICS_TIMEOUT_S, f"RecordsAccepted(PutItems) >= {GOOD_ITEMS}")
