"""An ingest queue on moto with its redrive policy, and Lambda's SQS event source over it, for handler tests.

The handler's answer is only half of what happens to a message: the event source mapping deletes what the handler
acknowledged, and SQS redelivers the rest, or moves it to the DLQ once its receive count reached the redrive
policy's maxReceiveCount (moto applies the policy on the next receive, as SQS does). ``IngestQueue`` plays both
parts, with the real queue attributes, so a test can check where each message ends up.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Imported for its patches to moto: without them moto's FIFO queues deliver a group's messages out of order once
# several of them come back from a visibility timeout together (local/sqs_server.py, _pending_message_groups).
import local.sqs_server  # noqa: F401

MAX_BATCH = 10  # the most messages one ReceiveMessage returns


@dataclass
class IngestQueue:
    """An ingest queue whose redrive policy moves messages to ``dead_letter_arn`` after ``max_receive_count``."""

    sqs: Any
    url: str
    arn: str

    @classmethod
    def create(cls, sqs: Any, *, dead_letter_url: str, max_receive_count: int = 5) -> IngestQueue:
        """A queue named like its DLQ (FIFO when the DLQ is: SQS requires both of one type)."""
        fifo = dead_letter_url.endswith(".fifo")
        dead_letter_arn = sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        attributes = {
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": max_receive_count})
        }
        if fifo:
            attributes["FifoQueue"] = "true"
        name = f"ingest-{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return cls(sqs=sqs, url=url, arn=arn)

    def send(self, body: dict[str, Any], *, group_id: str | None = None) -> str:
        """Publish one change; returns its message id. Waits for the next millisecond first, so that messages sent
        one after the other have increasing SentTimestamps (standard queues collapse changes to one id by it)."""
        start = time.time_ns() // 1_000_000
        while time.time_ns() // 1_000_000 == start:
            pass
        extra: dict[str, str] = {}
        if group_id is not None:
            extra = {"MessageGroupId": group_id, "MessageDeduplicationId": uuid.uuid4().hex}
        return str(self.sqs.send_message(QueueUrl=self.url, MessageBody=json.dumps(body), **extra)["MessageId"])

    def receive(self) -> list[dict[str, Any]]:
        """One poll, as the event source mapping makes it: up to ten messages, as Lambda SQS records. They stay
        in flight for no time at all, so a message left undeleted is at once deliverable again."""
        response = self.sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=MAX_BATCH,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            VisibilityTimeout=0,
        )
        return [self._lambda_record(message) for message in response.get("Messages", [])]

    def deliver(self, invoke: Callable[[dict[str, Any]], dict[str, Any]]) -> list[dict[str, Any]]:
        """Receive one batch, hand it to ``invoke`` (the handler), delete what it acknowledged; returns the batch."""
        records = self.receive()
        response = invoke({"Records": records})
        failed = {entry["itemIdentifier"] for entry in response["batchItemFailures"]}
        for record in records:
            if record["messageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=record["receiptHandle"])
        return records

    def fail_deliveries(self, times: int) -> None:
        """Receive and leave every deliverable message ``times`` times: earlier invocations that failed them."""
        for _ in range(times):
            self.receive()

    def _lambda_record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message["Attributes"],
            "messageAttributes": {
                name: {"stringValue": value.get("StringValue"), "dataType": value["DataType"]}
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.arn,
            "awsRegion": "us-east-1",
        }
