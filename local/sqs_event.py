"""The event Lambda hands a function subscribed to an SQS queue, built from ReceiveMessage's answer.

The shape is Lambda's, key for key and in its order (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html):
``Records`` of ``messageId``, ``receiptHandle``, ``body``, ``attributes``, ``messageAttributes``,
``md5OfMessageAttributes`` (only when the message has attributes), ``md5OfBody``, ``eventSource``,
``eventSourceARN``, ``awsRegion``; every system attribute a string, binary values base64-encoded.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal, NotRequired, TypedDict, cast

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageAttributeValueOutputTypeDef, MessageTypeDef

__all__ = [
    "SqsEvent",
    "SqsMessageAttribute",
    "SqsRecord",
    "SqsRecordAttributes",
    "build_event",
    "build_record",
]


class SqsMessageAttribute(TypedDict):
    """One message attribute as Lambda renders it (binary values base64-encoded)."""

    stringValue: NotRequired[str]
    binaryValue: NotRequired[str]
    stringListValues: list[str]
    binaryListValues: list[str]
    dataType: str


class SqsRecordAttributes(TypedDict):
    """The system attributes of a record; every value a string, as in Lambda's event."""

    ApproximateReceiveCount: str
    SentTimestamp: str
    SenderId: str
    ApproximateFirstReceiveTimestamp: str
    SequenceNumber: NotRequired[str]
    MessageGroupId: NotRequired[str]
    MessageDeduplicationId: NotRequired[str]
    AWSTraceHeader: NotRequired[str]
    DeadLetterQueueSourceArn: NotRequired[str]


class SqsRecord(TypedDict):
    """One record of the Lambda SQS event (``md5OfMessageAttributes`` only when the message has attributes)."""

    messageId: str
    receiptHandle: str
    body: str
    attributes: SqsRecordAttributes
    messageAttributes: dict[str, SqsMessageAttribute]
    md5OfMessageAttributes: NotRequired[str]
    md5OfBody: str
    eventSource: Literal["aws:sqs"]
    eventSourceARN: str
    awsRegion: str


class SqsEvent(TypedDict):
    """The event Lambda passes to a function subscribed to an SQS queue."""

    Records: list[SqsRecord]


# Required first, then FIFO and tracing ones when SQS returned them.
_REQUIRED_SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
)
_OPTIONAL_SYSTEM_ATTRIBUTES = (
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)


def build_record(message: MessageTypeDef, *, queue_arn: str, region: str) -> SqsRecord:
    """Render one ReceiveMessage message as a Lambda SQS event record.

    Parameters
    ----------
    message
        A message from boto3's ``receive_message`` (asked for all system and message attributes).
    queue_arn
        The queue's ARN, the record's ``eventSourceARN``.
    region
        The queue's region, the record's ``awsRegion``.
    """
    # Keyed by a Literal in the stubs; plain strings here, to loop over the names.
    received = cast("Mapping[str, str]", message.get("Attributes", {}))
    attributes = cast(SqsRecordAttributes, {name: str(received[name]) for name in _REQUIRED_SYSTEM_ATTRIBUTES})
    for name in _OPTIONAL_SYSTEM_ATTRIBUTES:
        if name in received:
            # The TypedDict has exactly these optional keys; mypy cannot follow a loop over their names.
            attributes[name] = str(received[name])  # type: ignore[literal-required]
    message_attributes = {
        name: _lambda_message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
    }
    record: SqsRecord = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
    }  # type: ignore[typeddict-item]  # completed below, in Lambda's key order
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record["md5OfBody"] = message["MD5OfBody"]
    record["eventSource"] = "aws:sqs"
    record["eventSourceARN"] = queue_arn
    record["awsRegion"] = region
    return record


def build_event(messages: Sequence[MessageTypeDef], *, queue_arn: str, region: str) -> SqsEvent:
    """Render a batch of ReceiveMessage messages as the Lambda SQS event, in receive order."""
    return {"Records": [build_record(message, queue_arn=queue_arn, region=region) for message in messages]}


def _lambda_message_attribute(value: MessageAttributeValueOutputTypeDef) -> SqsMessageAttribute:
    # Built key by key to keep Lambda's key order (value first, dataType last).
    attribute = cast(SqsMessageAttribute, {})
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        # boto3 decodes binary values to bytes; Lambda's JSON event carries them base64-encoded.
        attribute["binaryValue"] = _b64(value["BinaryValue"])
    attribute["stringListValues"] = list(value.get("StringListValues", []))
    attribute["binaryListValues"] = [_b64(item) for item in value.get("BinaryListValues", [])]
    attribute["dataType"] = value["DataType"]
    return attribute


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
