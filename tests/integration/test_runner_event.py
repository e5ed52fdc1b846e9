"""The local event-source runner's event and context: exactly what Lambda hands an SQS-subscribed function."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import TYPE_CHECKING

import pytest

from tests.integration.runner_helpers import (
    MakeQueuePair,
    RecordingHandler,
    run,
    send,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

pytestmark = pytest.mark.integration


def test_runner_standard_message_event_has_lambda_sqs_shape(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
) -> None:
    # GIVEN a message with a string, a number and a binary attribute on a standard queue
    queue = make_queue_pair()
    body = json.dumps({"type": "item", "itemId": "sku-1"})
    sent = sqs_client.send_message(
        QueueUrl=queue.url,
        MessageBody=body,
        MessageAttributes={
            "source": {"DataType": "String", "StringValue": "catalog"},
            "version": {"DataType": "Number", "StringValue": "3"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
        },
    )
    handler = RecordingHandler()

    # WHEN the runner delivers it
    summary = run(sqs_client, queue, handler)

    # THEN the handler got exactly Lambda's SQS event, every attribute a string
    assert summary.invocations == 1
    (event,) = handler.events
    assert list(event) == ["Records"]
    (record,) = event["Records"]
    assert set(record) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfMessageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["messageId"] == sent["MessageId"]
    assert isinstance(record["receiptHandle"], str)
    assert record["receiptHandle"]
    assert record["body"] == body
    assert record["md5OfBody"] == hashlib.md5(body.encode()).hexdigest()
    assert record["md5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queue.arn
    assert record["awsRegion"] == "us-east-1"
    attributes = record["attributes"]
    assert set(attributes) == {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    }
    assert all(isinstance(value, str) for value in attributes.values())
    assert attributes["ApproximateReceiveCount"] == "1"
    assert int(attributes["ApproximateFirstReceiveTimestamp"]) >= int(attributes["SentTimestamp"])
    assert record["messageAttributes"] == {
        "source": {"stringValue": "catalog", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "version": {"stringValue": "3", "stringListValues": [], "binaryListValues": [], "dataType": "Number"},
        "blob": {
            "binaryValue": base64.b64encode(b"\x00\xff").decode(),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        },
    }


def test_runner_message_without_attributes_event_omits_attribute_checksum(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
) -> None:
    # GIVEN a message without message attributes
    queue = make_queue_pair()
    send(sqs_client, queue, ["plain"])
    handler = RecordingHandler()

    # WHEN the runner delivers it
    run(sqs_client, queue, handler)

    # THEN messageAttributes is empty and there is no md5OfMessageAttributes, as in Lambda's event
    (record,) = handler.records
    assert record["messageAttributes"] == {}
    assert "md5OfMessageAttributes" not in record


def test_runner_context_is_lambda_like_and_counts_down_from_function_timeout(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
) -> None:
    # GIVEN a queue with a 2 s visibility timeout and a function timeout of 2 s
    queue = make_queue_pair(visibility_timeout_s=2)
    send(sqs_client, queue, ["one"])
    handler = RecordingHandler()

    # WHEN the runner invokes the handler
    run(sqs_client, queue, handler, function_timeout_s=2.0)

    # THEN the context carries Lambda's fields and the remaining time counts down from the timeout
    (context,) = handler.contexts
    assert context.function_name == "ingest"
    assert context.function_version == "$LATEST"
    assert context.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:ingest"
    assert isinstance(context.memory_limit_in_mb, int)
    assert context.aws_request_id
    assert context.log_group_name == "/aws/lambda/ingest"
    assert "[$LATEST]" in context.log_stream_name
    assert 0 < handler.remaining_ms[0] <= 2000
    time.sleep(0.05)
    assert context.get_remaining_time_in_millis() < handler.remaining_ms[0]


def test_runner_fifo_event_carries_group_sequence_and_deduplication(
    sqs_client: SQSClient, make_queue_pair: MakeQueuePair
) -> None:
    # GIVEN a FIFO message with an explicit deduplication id
    queue = make_queue_pair(fifo=True)
    sqs_client.send_message(QueueUrl=queue.url, MessageBody="f1", MessageGroupId="g1", MessageDeduplicationId="d1")
    handler = RecordingHandler()

    # WHEN the runner delivers it
    run(sqs_client, queue, handler)

    # THEN the record's attributes carry the FIFO fields as strings
    (record,) = handler.records
    attributes = record["attributes"]
    assert attributes["MessageGroupId"] == "g1"
    assert attributes["MessageDeduplicationId"] == "d1"
    assert attributes["SequenceNumber"].isdigit()
    assert record["eventSourceARN"] == queue.arn
    assert queue.arn.endswith(".fifo")
