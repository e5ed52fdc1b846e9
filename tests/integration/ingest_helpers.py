"""What the local ingest tests share: the changes they publish and what must become of each, and readers of the
pipeline's two ends (the emulator's datasets and the dead-letter queue).

Timing: a message the handler reports as failed comes back after the queue's visibility timeout, which the
runner (like Lambda) refuses to set below the function timeout; the handler keeps max(3 s, 10 %) of the
function timeout in reserve for dead letters and its answer. Hence function timeouts of 4.5 s here (below the
deployed minimum of 10 s, to keep redelivery quick): 1.5 s of sending per invocation.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from contract import KIND_SPECS
from local.environment import LocalPipeline

STORED = "stored"
# Lifecycle delays tiny but not zero: provisioning still has to poll, as against AWS.
LIFECYCLE: dict[str, Any] = {"create_delay": 0.01, "delete_delay": 0.01}
# SQS: at most 10 entries per SendMessageBatch.
PUBLISH_BATCH = 10
# The record id of each kind Personalize upserts (items, actions, users).
ID_FIELDS = {spec.name: spec.id_field for spec in KIND_SPECS.values() if spec.id_field is not None}
# See "Timing" above: 1.5 s of sending per invocation, redelivered as soon as the runner allows.
FUNCTION_TIMEOUT_S = 4.5
VISIBILITY_TIMEOUT_S = 5
# What tells apart the messages of the event streams in the emulator, whose records have no id of their own (the
# handler derives the eventId): a unique itemId for events, actionId for action interactions.
STREAM_KEYS = {"event": "itemId", "actionInteraction": "actionId"}
SESSIONS = 3


# --- the stream ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """One message to publish and what must become of it: ``STORED`` or the dead-letter ErrorCode.

    ``properties`` are those published (items, actions, users); ``stored_fields`` what a stored event or
    action interaction must carry (they have no id, and the request fields matter as much as the properties).
    """

    body: str
    expected: str
    kind: str | None = None
    record_id: str | None = None
    properties: Mapping[str, Any] | None = None
    stored_fields: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Published:
    """A change SQS accepted, with the message id SQS gave it."""

    message_id: str
    change: Change


def change(kind: str, record_id: str, properties: Mapping[str, Any], expected: str = STORED) -> Change:
    """A well-formed change of ``kind`` (item, action, user)."""
    body = json.dumps({"type": kind, ID_FIELDS[kind]: record_id, "properties": properties})
    return Change(body=body, expected=expected, kind=kind, record_id=record_id, properties=properties)


def item(index: int, *, prefix: str = "sku") -> Change:
    """A valid item whose property keys mix camelCase and schema field names, with a list for a categorical."""
    return change(
        "item",
        f"{prefix}-{index:03d}",
        {
            "price": 10.25 + index,
            "genres": ["Horror", "Action", "Comedy"][: 1 + index % 3],
            "NUMBER_OF_RATINGS": index,
            "IN_STOCK": index % 2 == 0,
        },
    )


def action(index: int) -> Change:
    """A valid action, likewise."""
    return change(
        "action",
        f"act-{index:03d}",
        {"value": 100 + index, "MEMBERSHIP_LEVEL": "gold", "expirationTimestamp": 1_830_000_000, "repeatFrequency": 3},
    )


def user(index: int) -> Change:
    """A valid user, with a schema field name among its keys."""
    return change("user", f"u-{index:03d}", {"membershipType": ("gold", "silver")[index % 2], "AGE_GROUP": "30s"})


def event(index: int) -> Change:
    """A valid event; every other one timed in ISO-8601 rather than epoch seconds."""
    sent_at = 1_763_805_600 + index
    fields: dict[str, Any] = {
        "type": "event",
        "sessionId": f"s-{index % SESSIONS}",
        "userId": f"u-{index % SESSIONS:03d}",
        "eventType": "click",
        "itemId": f"sku-e-{index:03d}",
        # ISO-8601 for even indexes below 60 (the seconds field), epoch seconds otherwise
        "sentAt": f"2025-11-22T10:00:{index:02d}Z" if index % 2 == 0 and index < 60 else sent_at,
        "eventValue": 1.5,
        "properties": {"DEVICE": "ios"},
    }
    expected = {
        "sessionId": fields["sessionId"],
        "userId": fields["userId"],
        "eventType": "click",
        "itemId": fields["itemId"],
        "sentAt": float(sent_at),
        "eventValue": 1.5,
        "properties": {"device": "ios"},
    }
    return Change(
        body=json.dumps(fields), expected=STORED, kind="event", record_id=fields["itemId"], stored_fields=expected
    )


def action_interaction(index: int) -> Change:
    """A valid action interaction."""
    fields = {
        "type": "actionInteraction",
        "actionId": f"act-i-{index:03d}",
        "sessionId": f"s-{index % SESSIONS}",
        "userId": f"u-{index % SESSIONS:03d}",
        "eventType": "Taken",
        "timestamp": 1_763_805_600 + index,
        "properties": {"channel": "email"},
    }
    expected = {
        "sessionId": fields["sessionId"],
        "userId": fields["userId"],
        "eventType": "Taken",
        "actionId": fields["actionId"],
        "timestamp": float(1_763_805_600 + index),
        "properties": {"channel": "email"},
    }
    return Change(
        body=json.dumps(fields),
        expected=STORED,
        kind="actionInteraction",
        record_id=str(fields["actionId"]),
        stored_fields=expected,
    )


def invalid_changes() -> list[Change]:
    """Messages the handler itself must dead-letter, one per reason it can see without calling Personalize.

    Some bodies are laid out as no JSON serialiser would (compact, padded, a trailing newline): the dead letter
    must carry the body exactly as published, not a re-encoding of it.
    """
    return [
        Change('{"type": "item", "itemId": "sku-broken", "properties": {', "MalformedMessage"),
        Change('{"type":"product","itemId":"sku-product"}', "MalformedMessage"),
        Change('  {"type": "item", "properties": {"price": 1}}\n', "MalformedMessage"),
        change("action", "a" * 300, {"value": 1}, "MalformedMessage"),
        Change(
            '{"type":"item","itemId":"sku-colour","properties":{"price":1,"colour":"red"}}',
            "SchemaViolation",
            kind="item",
            record_id="sku-colour",
        ),
        Change(
            '{"itemId": "sku-cheap",\n "type": "item", "properties": {"price": "cheap"}}\n',
            "SchemaViolation",
            kind="item",
            record_id="sku-cheap",
        ),
        change("action", "act-lots", {"value": "lots"}, "SchemaViolation"),
        change("user", "u-1", {"membershipType": "gold"}, "DatasetNotConfigured"),
    ]


def camel_case(key: str) -> str:
    """A property key as Personalize wants it: NUMBER_OF_RATINGS → numberOfRatings; camelCase stays."""
    if key != key.upper():
        return key
    first, *rest = key.lower().split("_")
    return first + "".join(word.capitalize() for word in rest)


def as_stored(properties: Mapping[str, Any]) -> dict[str, Any]:
    """The properties the emulator must hold for a change: camelCase keys, lists joined with ``|``."""
    return {camel_case(key): "|".join(value) if isinstance(value, list) else value for key, value in properties.items()}


# --- the pipeline's ends ------------------------------------------------------------------------------------


def publish(pipeline: LocalPipeline, changes: Sequence[Change]) -> list[Published]:
    """SendMessageBatch in tens, in order; every entry must be accepted."""
    published: list[Published] = []
    for start in range(0, len(changes), PUBLISH_BATCH):
        chunk = changes[start : start + PUBLISH_BATCH]
        response = pipeline.sqs.send_message_batch(
            QueueUrl=pipeline.queues.url,
            Entries=[{"Id": str(index), "MessageBody": entry.body} for index, entry in enumerate(chunk)],
        )
        assert not response.get("Failed"), response.get("Failed")
        ids = {int(ok["Id"]): ok["MessageId"] for ok in response["Successful"]}
        published.extend(Published(ids[index], entry) for index, entry in enumerate(chunk))
    return published


def stored_records(pipeline: LocalPipeline) -> dict[tuple[str, str], dict[str, Any]]:
    """What the emulator holds, by (kind, record id), for every provisioned items/actions/users dataset."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, dataset_arn in pipeline.provisioned.datasets.items():
        if kind not in ID_FIELDS:
            continue  # an event stream: see stored_stream
        for record in pipeline.emulator.state.records(dataset_arn):
            found[(kind, record[ID_FIELDS[kind]])] = record
    return found


def stored_stream(pipeline: LocalPipeline, kind: str) -> dict[str, list[dict[str, Any]]]:
    """The events (or action interactions) the emulator holds, grouped by their distinguishing field."""
    found: dict[str, list[dict[str, Any]]] = {}
    for record in pipeline.emulator.state.records(pipeline.provisioned.datasets[kind]):
        found.setdefault(record[STREAM_KEYS[kind]], []).append(record)
    return found


def by_source(letters: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The dead letters the handler wrote, by SourceMessageId; each source must appear once.

    Read the DLQ once per test (``LocalPipeline.dead_letters`` leaves what it read invisible for 30 s).
    """
    sources = Counter(letter["SourceMessageId"] for letter in letters if "SourceMessageId" in letter)
    assert not [source for source, count in sources.items() if count > 1], f"dead-lettered twice: {sources}"
    return {letter["SourceMessageId"]: letter for letter in letters if "SourceMessageId" in letter}


def put_calls(pipeline: LocalPipeline, api: str) -> list[dict[str, Any]]:
    """The emulator's log of ``api`` calls."""
    return pipeline.emulator.state.calls(api)
