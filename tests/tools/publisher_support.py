"""What the publisher's tests share: moto's SQS in this process, the queues they publish to, and reading them back.

The publisher's tests run moto in-process (``mock_aws``) rather than on the server ``conftest.py`` starts for the
DLQ tool, so each test module overrides the ``sqs`` fixture with :func:`mocked_sqs`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tools.publisher import MAX_BATCH_BYTES

REGION = "us-east-1"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def mocked_sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An SQS client for moto in this process, with dummy credentials and no endpoint or profile of the shell's."""
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_SQS", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


def create_standard_queue(sqs: Any) -> str:
    """A standard queue named ``ingest``; its URL."""
    # The limit every queue accepts, so moto refuses a message over it the way such a queue would.
    return str(
        sqs.create_queue(QueueName="ingest", Attributes={"MaximumMessageSize": str(MAX_BATCH_BYTES)})["QueueUrl"]
    )


def create_fifo_queue(sqs: Any) -> str:
    """A FIFO queue named ``ingest.fifo``; its URL."""
    return str(sqs.create_queue(QueueName="ingest.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"])


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message in the queue, with its system attributes; deleted as read."""
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            return messages
        messages += batch
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
