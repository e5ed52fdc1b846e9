"""Step 1, decode: an SQS record → the message's metadata and a typed change (DESIGN.md Contract 1).

Envelopes are unwrapped here: an SNS notification delivered without raw message delivery, and an EventBridge
event whose ``detail`` is the change. The dead-letter queue always receives the original body, untouched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from ingest.errors import ErrorCode, RejectedRecord
from ingest.kinds import KINDS, Kind

# Contract 3: the attribute naming the original message; a DLQ copy sent back keeps it (tools/dlq.py).
SOURCE_MESSAGE_ID = "SourceMessageId"
# An SNS notification inside an EventBridge event inside... is not a thing anyone sends; a bound stops loops.
_MAX_ENVELOPES = 3


class SqsAttributes(TypedDict, total=False):
    """The system attributes the Lambda service puts on each SQS record (all values are strings)."""

    ApproximateReceiveCount: str
    SentTimestamp: str
    SenderId: str
    ApproximateFirstReceiveTimestamp: str
    SequenceNumber: str
    MessageGroupId: str
    MessageDeduplicationId: str


class SqsRecord(TypedDict):
    """One record of the Lambda SQS event (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html)."""

    messageId: str
    receiptHandle: str
    body: str
    attributes: SqsAttributes
    messageAttributes: dict[str, Any]
    md5OfBody: str
    eventSource: str
    eventSourceARN: str
    awsRegion: str
    md5OfMessageAttributes: NotRequired[str]


@dataclass(frozen=True, slots=True)
class Message:
    """What the pipeline needs of one SQS message, whatever its body holds."""

    message_id: str
    body: str
    position: int
    receive_count: int
    sent_timestamp: int
    group_id: str | None = None
    deduplication_id: str | None = None
    source_message_id: str | None = None

    @property
    def origin_id(self) -> str:
        """The id of the message as first published: a copy sent back from the DLQ carries it as SourceMessageId."""
        return self.source_message_id or self.message_id

    @classmethod
    def from_record(cls, record: SqsRecord, position: int) -> Message:
        """Read the metadata of one SQS record; missing attributes get neutral defaults."""
        attributes = record.get("attributes") or {}
        return cls(
            message_id=record["messageId"],
            body=record.get("body", ""),
            position=position,
            receive_count=_int(attributes.get("ApproximateReceiveCount"), 1),
            sent_timestamp=_int(attributes.get("SentTimestamp"), 0),
            group_id=attributes.get("MessageGroupId"),
            deduplication_id=attributes.get("MessageDeduplicationId"),
            source_message_id=_string_attribute(record.get("messageAttributes") or {}, SOURCE_MESSAGE_ID),
        )


@dataclass(frozen=True, slots=True)
class Change:
    """A decoded change: its kind and its fields (the API's own names), ``type`` removed."""

    message: Message
    kind: Kind
    fields: dict[str, Any]


def decode(message: Message) -> Change:
    """Parse the body, unwrap envelopes and pick the kind.

    Raises
    ------
    RejectedRecord
        ``MalformedMessage`` when the body is not JSON, not an object, or names no known type.
    """
    try:
        document: Any = json.loads(message.body)
    except (ValueError, RecursionError):
        raise RejectedRecord(ErrorCode.MALFORMED_MESSAGE, "body is not valid JSON") from None
    for _ in range(_MAX_ENVELOPES):
        inner = _unwrap(document)
        if inner is None:
            break
        document = inner
    if not isinstance(document, dict):
        raise RejectedRecord(ErrorCode.MALFORMED_MESSAGE, "body must be a JSON object")
    kind_name = document.get("type")
    if not isinstance(kind_name, str) or kind_name not in KINDS:
        shown = kind_name[:64] if isinstance(kind_name, str) else type(kind_name).__name__
        raise RejectedRecord(
            ErrorCode.MALFORMED_MESSAGE,
            f"type must be one of {', '.join(KINDS)}; got {shown!r}" if "type" in document else "type is missing",
        )
    fields = {key: value for key, value in document.items() if key != "type"}
    return Change(message=message, kind=KINDS[kind_name], fields=fields)


def _unwrap(document: Any) -> Any:
    """The change inside an SNS or EventBridge envelope, or None when ``document`` is not an envelope."""
    if not isinstance(document, dict) or "type" in document:
        return None
    if document.get("Type") == "Notification" and isinstance(document.get("Message"), str) and "TopicArn" in document:
        try:
            return json.loads(document["Message"])
        except (ValueError, RecursionError):
            raise RejectedRecord(ErrorCode.MALFORMED_MESSAGE, "SNS envelope: Message is not valid JSON") from None
    if "detail" in document and "detail-type" in document and "source" in document:
        detail = document["detail"]
        if isinstance(detail, str):
            try:
                return json.loads(detail)
            except (ValueError, RecursionError):
                raise RejectedRecord(ErrorCode.MALFORMED_MESSAGE, "EventBridge envelope: detail is not JSON") from None
        return detail
    return None


def _string_attribute(attributes: dict[str, Any], name: str) -> str | None:
    value = attributes.get(name)
    text = value.get("stringValue") if isinstance(value, dict) else None
    return text if isinstance(text, str) and text else None


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
