"""Realistic Lambda SQS events and contract messages (the shapes of https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html)."""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from typing import Any

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:personalize-ingest"
_sent = itertools.count(1_763_805_600_000)


def sqs_record(
    body: str | dict[str, Any],
    *,
    message_id: str | None = None,
    receive_count: int = 1,
    sent_timestamp: int | None = None,
    group_id: str | None = None,
    deduplication_id: str | None = None,
    fifo: bool | None = None,
) -> dict[str, Any]:
    """One record as the Lambda service delivers it: every attribute value is a string.

    It comes from a FIFO queue when ``fifo`` says so, by default when it has a ``group_id``; a standard (fair)
    queue's message may carry a MessageGroupId too, but no deduplication id or sequence number.
    """
    fifo = group_id is not None if fifo is None else fifo
    text = body if isinstance(body, str) else json.dumps(body)
    sent = sent_timestamp if sent_timestamp is not None else next(_sent)
    attributes = {
        "ApproximateReceiveCount": str(receive_count),
        "SentTimestamp": str(sent),
        "SenderId": "AIDAIENQZJOLO23YVJ4VO",
        "ApproximateFirstReceiveTimestamp": str(sent + 5),
    }
    if group_id is not None:
        attributes["MessageGroupId"] = group_id
    if fifo:
        attributes["MessageDeduplicationId"] = deduplication_id or hashlib.sha256(text.encode()).hexdigest()
        attributes["SequenceNumber"] = str(18849496460467696128 + sent)
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEB" + uuid.uuid4().hex,
        "body": text,
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(text.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN + (".fifo" if fifo else ""),
        "awsRegion": "us-east-1",
    }


def sqs_event(*bodies: str | dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """A Lambda SQS event with one record per body."""
    return {"Records": [sqs_record(body, **kwargs) for body in bodies]}


def item(item_id: str, **properties: Any) -> dict[str, Any]:
    """An item change; default properties fit ``schemas/items.json``."""
    return {"type": "item", "itemId": item_id, "properties": {"price": 9.99, **properties}}


def action(action_id: str, **properties: Any) -> dict[str, Any]:
    """An action change fitting ``schemas/actions.json``."""
    return {"type": "action", "actionId": action_id, "properties": {"value": 100, **properties}}


def user(user_id: str, **properties: Any) -> dict[str, Any]:
    """A user change fitting ``schemas/users.json``."""
    return {"type": "user", "userId": user_id, "properties": {"membershipType": "gold", **properties}}


def event(session_id: str, user_id: str, item_id: str, **fields: Any) -> dict[str, Any]:
    """An interaction event fitting ``schemas/interactions.json``."""
    return {
        "type": "event",
        "sessionId": session_id,
        "userId": user_id,
        "eventType": "click",
        "itemId": item_id,
        "sentAt": "2026-11-22T10:00:00Z",
        **fields,
    }


def action_interaction(action_id: str, session_id: str, **fields: Any) -> dict[str, Any]:
    """An action interaction fitting ``schemas/action_interactions.json``."""
    return {
        "type": "actionInteraction",
        "actionId": action_id,
        "sessionId": session_id,
        "userId": "u-1",
        "eventType": "Taken",
        "timestamp": 1763805600,
        **fields,
    }


def sns_notification(change: dict[str, Any]) -> dict[str, Any]:
    """``change`` as SNS delivers it to an SQS subscription without raw message delivery."""
    return {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:catalog-changes",
        "Subject": None,
        "Message": json.dumps(change),
        "Timestamp": "2026-11-22T10:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEpH+..",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    }


def eventbridge_event(change: dict[str, Any]) -> dict[str, Any]:
    """``change`` as the ``detail`` of an EventBridge event delivered to an SQS target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "CatalogChanged",
        "source": "com.example.catalog",
        "account": "123456789012",
        "time": "2026-11-22T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": change,
    }
