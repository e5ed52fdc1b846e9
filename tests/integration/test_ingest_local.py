"""The real ingest handler, run by the local event-source runner, against moto's SQS server and the emulator.

No fakes and no mocks of what is tested: ``LocalPipeline`` starts moto's SQS server and the Personalize
emulator on loopback, creates the ingest queue and its dead-letter queue (redrive policy included) and
provisions the datasets; ``drain()`` imports ``ingest.handler.lambda_handler`` with the Contract 2 environment
and polls the queue the way Lambda's event source mapping does. Failures come from the emulator's seeded
faults (throttling, 5xx) and its ``reject_records`` setting, which makes a record poison *through its data* on
the service side, past everything the handler validates itself.

The properties checked (DESIGN.md "The ingest algorithm", Contract 3):

- nothing is lost: every published message ends either stored in the emulator (with its properties as sent,
  camelCase-normalised) or in the DLQ with the expected ErrorCode and its original body, never both; for all
  five kinds, each through its own API (events and action interactions through their tracking ids, a resent
  one under the eventId of its first send);
- a record the service rejects goes to the DLQ alone, named in ErrorMessage; the others of its call are stored;
- transient failures past the receive limit end as RetriesExhausted on the last delivery, with the last error;
- setup errors are never dead-lettered by the handler: the queue's redrive policy moves them;
- duplicates within a batch collapse to the newest change.

Timing: a message the handler reports as failed comes back after the queue's visibility timeout, which the
runner (like Lambda) refuses to set below the function timeout; the handler keeps max(3 s, 10 %) of the
function timeout in reserve for dead letters and its answer. Hence function timeouts of 4.5 s here (below the
deployed minimum of 10 s, to keep redelivery quick): 1.5 s of sending per invocation.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.emulator import EmulatorConfig
from local.environment import LocalPipeline

pytestmark = pytest.mark.integration

STORED = "stored"
# Lifecycle delays tiny but not zero: provisioning still has to poll, as against AWS.
LIFECYCLE = {"create_delay": 0.01, "delete_delay": 0.01}
# SQS: at most 10 entries per SendMessageBatch.
PUBLISH_BATCH = 10
ID_FIELDS = {"item": "itemId", "action": "actionId", "user": "userId"}
# See "Timing" above: 1.5 s of sending per invocation, redelivered as soon as the runner allows.
FUNCTION_TIMEOUT_S = 4.5
VISIBILITY_TIMEOUT_S = 5
API_OF = {"item": "PutItems", "action": "PutActions"}


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """``drain()`` cold-starts the handler by writing its environment into ``os.environ``: undo that."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


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


# --- conservation -------------------------------------------------------------------------------------------


def test_ingest_stream_under_throttling_and_5xx_every_message_stored_or_dead_lettered() -> None:
    # GIVEN an emulator that throttles 20 % and fails 20 % of Put* calls (seeded) and refuses four item ids,
    # and a shuffled stream of valid items and actions, that service-side poison, and messages the handler
    # rejects itself
    config = EmulatorConfig(
        **LIFECYCLE, throttle_rate=0.2, server_error_rate=0.2, seed=7, reject_records=re.compile("poison")
    )
    poison = [change("item", f"sku-poison-{index}", item(index).properties or {}, "InvalidInput") for index in range(4)]
    stream = [*(item(index) for index in range(14)), *(action(index) for index in range(8)), *poison]
    stream += invalid_changes()
    random.Random(5).shuffle(stream)
    # A 4.5 s function timeout leaves 1.5 s of sending per invocation. Retries, and bisecting the chunks that hold
    # poison, need more PutItems calls than the pacing (10 calls/s) fits in the first invocations' 1.5 s: some
    # messages must be reported as failed and come back, so redelivery is part of what is checked. The receive
    # limit is generous: this test is about conservation, RetriesExhausted has its own.
    with LocalPipeline(
        kinds=("item", "action"),
        emulator_config=config,
        visibility_timeout_s=VISIBILITY_TIMEOUT_S,
        max_receive_count=10,
    ) as pipeline:
        published = publish(pipeline, stream)

        # WHEN the real handler drains the queue
        summary = pipeline.drain(function_timeout_s=FUNCTION_TIMEOUT_S, max_seconds=50)

        # THEN the queue is empty, the faults did happen, and every message is in exactly one place
        depth = pipeline.queue_depth()
        faults = pipeline.emulator.state.stats()["faults"]
        stored = stored_records(pipeline)
        dead_letters = pipeline.dead_letters()

    letters = by_source(dead_letters)
    moved_by_redrive = [letter for letter in dead_letters if "ErrorCode" not in letter]

    assert summary.stopped_reason == "drained"
    assert depth == 0
    assert faults.get("throttle", 0) > 0
    assert faults.get("server_error", 0) > 0
    assert moved_by_redrive == []
    problems: list[str] = []
    for message in published:
        entry = message.change
        key = (entry.kind or "", entry.record_id or "")
        letter = letters.pop(message.message_id, None)
        if entry.expected == STORED:
            if letter is not None:
                problems.append(f"{entry.record_id}: dead-lettered as {letter['ErrorCode']}, expected stored")
            elif key not in stored:
                problems.append(f"{entry.record_id}: acknowledged but not stored (lost)")
            elif stored[key]["properties"] != as_stored(entry.properties or {}):
                problems.append(f"{entry.record_id}: stored {stored[key]['properties']}")
            continue
        if letter is None:
            problems.append(f"{entry.body[:60]}: expected {entry.expected} in the DLQ, not there")
            continue
        if letter["ErrorCode"] != entry.expected:
            problems.append(f"{entry.body[:60]}: {letter['ErrorCode']}, expected {entry.expected}")
        if letter["body"] != entry.body:
            problems.append(f"{entry.body[:60]}: the dead letter's body differs from the published one")
        if key in stored:
            problems.append(f"{entry.record_id}: dead-lettered and stored")
    assert problems == []
    assert letters == {}, "dead letters that match no published message"
    assert len(stored) == sum(1 for message in published if message.change.expected == STORED)
    # AND the path checked went through SQS redelivery, not only through retries within one invocation
    assert summary.messages_reported_failed > 0


# Every kind of Contract 1, each with a field that tells its messages apart in the emulator: the record id for
# items, actions and users; a unique itemId / actionId for the event streams, whose records have no id of
# their own (the handler derives the eventId).
ALL_KINDS = ("item", "action", "user", "event", "actionInteraction")
STREAM_KEYS = {"event": "itemId", "actionInteraction": "actionId"}
# DESIGN.md Contract 2: the ingest Lambda's environment (Powertools' own variables aside).
CONTRACT_2 = (
    "ITEMS_DATASET_ARN",
    "ACTIONS_DATASET_ARN",
    "USERS_DATASET_ARN",
    "INTERACTIONS_DATASET_ARN",
    "ACTION_INTERACTIONS_DATASET_ARN",
    "EVENT_TRACKING_ID",
    "ACTION_INTERACTIONS_TRACKING_ID",
    "DEAD_LETTER_QUEUE_URL",
    "MAX_RECEIVE_COUNT",
)
SESSIONS = 3


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


def stored_stream(pipeline: LocalPipeline, kind: str) -> dict[str, list[dict[str, Any]]]:
    """The events (or action interactions) the emulator holds, grouped by their distinguishing field."""
    found: dict[str, list[dict[str, Any]]] = {}
    for record in pipeline.emulator.state.records(pipeline.provisioned.datasets[kind]):
        found.setdefault(record[STREAM_KEYS[kind]], []).append(record)
    return found


def test_ingest_every_kind_under_throttling_and_5xx_every_message_stored_once_or_dead_lettered() -> None:
    # GIVEN a dataset per kind (and the event tracker), an emulator that throttles 15 % and fails 15 % of Put*
    # calls (seeded), and a shuffled stream of every kind with a schema violation of each event stream
    config = EmulatorConfig(**LIFECYCLE, throttle_rate=0.15, server_error_rate=0.15, seed=11)
    valid = [
        *(item(index) for index in range(5)),
        *(action(index) for index in range(4)),
        *(user(index) for index in range(4)),
        *(event(index) for index in range(8)),
        *(action_interaction(index) for index in range(6)),
    ]
    bad_event = json.loads(event(91).body) | {"properties": {"colour": "red"}}
    bad_interaction = json.loads(action_interaction(93).body) | {"properties": {"channel": 7}}
    invalid = [
        Change(json.dumps(bad_event), "SchemaViolation", kind="event", record_id=bad_event["itemId"]),
        Change(
            json.dumps(bad_interaction),
            "SchemaViolation",
            kind="actionInteraction",
            record_id=bad_interaction["actionId"],
        ),
        change("user", "u-bad", {"membershipType": "gold", "shoeSize": 44}, "SchemaViolation"),
    ]
    stream = [*valid, *invalid]
    random.Random(3).shuffle(stream)
    with LocalPipeline(
        kinds=ALL_KINDS, emulator_config=config, visibility_timeout_s=VISIBILITY_TIMEOUT_S, max_receive_count=10
    ) as pipeline:
        published = publish(pipeline, stream)

        # WHEN the real handler, with the Contract 2 environment of all five datasets, drains the queue
        summary = pipeline.drain(function_timeout_s=FUNCTION_TIMEOUT_S, max_seconds=50)

        # (the environment the handler was cold-started with, as the stack would set it)
        environment = {name: os.environ.get(name) for name in CONTRACT_2}
        datasets = pipeline.provisioned.datasets
        action_tracker = pipeline.personalize.describe_dataset(datasetArn=datasets["actionInteraction"])
        depth = pipeline.queue_depth()
        stats = pipeline.emulator.state.stats()
        records = stored_records(pipeline)
        streams = {kind: stored_stream(pipeline, kind) for kind in STREAM_KEYS}
        letters = by_source(pipeline.dead_letters())

    assert environment == {
        "ITEMS_DATASET_ARN": datasets["item"],
        "ACTIONS_DATASET_ARN": datasets["action"],
        "USERS_DATASET_ARN": datasets["user"],
        "INTERACTIONS_DATASET_ARN": datasets["event"],
        "ACTION_INTERACTIONS_DATASET_ARN": datasets["actionInteraction"],
        "EVENT_TRACKING_ID": pipeline.provisioned.event_tracking_id,
        "ACTION_INTERACTIONS_TRACKING_ID": action_tracker["dataset"]["trackingId"],
        "DEAD_LETTER_QUEUE_URL": pipeline.queues.dlq_url,
        "MAX_RECEIVE_COUNT": "10",
    }
    # THEN the queue is empty and the faults did happen
    assert summary.stopped_reason == "drained"
    assert depth == 0
    assert sum(stats["faults"].values()) > 0
    # AND each of the five APIs was called and accepted records
    assert set(stats["recordsAccepted"]) == {"PutItems", "PutActions", "PutUsers", "PutEvents", "PutActionInteractions"}
    # AND every message is in exactly one place: stored as sent, or dead-lettered with its code and body
    problems: list[str] = []
    for message in published:
        entry = message.change
        letter = letters.pop(message.message_id, None)
        if entry.kind in STREAM_KEYS:
            copies = streams[entry.kind].pop(entry.record_id or "", [])
        else:
            stored = records.pop((entry.kind or "", entry.record_id or ""), None)
            copies = [] if stored is None else [stored]
        if entry.expected != STORED:
            if letter is None or (letter["ErrorCode"], letter["body"]) != (entry.expected, entry.body):
                problems.append(f"{entry.record_id}: expected {entry.expected} in the DLQ, found {letter}")
            if copies:
                problems.append(f"{entry.record_id}: dead-lettered and stored")
            continue
        if letter is not None:
            problems.append(f"{entry.record_id}: dead-lettered as {letter['ErrorCode']}, expected stored")
        if not copies:
            problems.append(f"{entry.record_id}: acknowledged but not stored (lost)")
        elif entry.kind in STREAM_KEYS:
            # A resent event carries the eventId of the first send, so Personalize trains on it once.
            if len({copy["eventId"] for copy in copies}) != 1:
                problems.append(f"{entry.record_id}: stored {len(copies)} times under different eventIds")
            fields = entry.stored_fields or {}
            if any({name: copy.get(name) for name in fields} != fields for copy in copies):
                problems.append(f"{entry.record_id}: stored as {copies[0]}")
        elif copies[0]["properties"] != as_stored(entry.properties or {}):
            problems.append(f"{entry.record_id}: stored {copies[0]['properties']}")
    assert problems == []
    # AND nothing is stored or dead-lettered that was not published
    assert records == {}
    assert streams == {"event": {}, "actionInteraction": {}}
    assert letters == {}


# --- poison isolation ---------------------------------------------------------------------------------------


def test_ingest_service_rejects_one_record_per_batch_only_those_dead_lettered() -> None:
    # GIVEN an emulator refusing item ids that contain "poison", and three SendMessageBatch calls of ten
    # items, each with one such item among nine good ones
    config = EmulatorConfig(**LIFECYCLE, reject_records=re.compile("poison"))
    stream = [
        item(10 * batch + index, prefix="sku-poison" if index == 3 else "sku")
        for batch in range(3)
        for index in range(10)
    ]
    with LocalPipeline(kinds=("item",), emulator_config=config, visibility_timeout_s=VISIBILITY_TIMEOUT_S) as pipeline:
        published = publish(pipeline, stream)

        # WHEN the real handler drains the queue
        pipeline.drain(function_timeout_s=FUNCTION_TIMEOUT_S, max_seconds=30)

        # THEN the poison items alone are in the DLQ, as InvalidInput from PutItems, each named in ErrorMessage
        depth = pipeline.queue_depth()
        letters = by_source(pipeline.dead_letters())
        stored = stored_records(pipeline)
        rejected_calls = [c for c in put_calls(pipeline, "PutItems") if c["error"] == "InvalidInputException"]

    poison = {message.message_id: message.change for message in published if "poison" in message.change.body}
    good = [message.change for message in published if message.message_id not in poison]
    assert len(poison) == 3
    assert depth == 0
    assert set(letters) == set(poison)
    for message_id, letter in letters.items():
        entry = poison[message_id]
        assert (letter["ErrorCode"], letter["Api"], letter["body"]) == ("InvalidInput", "PutItems", entry.body)
        assert f"itemId={entry.record_id}" in letter["ErrorMessage"]
        # It names the bad record, not the good ones it was sent with.
        assert not [other.record_id for other in good if f"itemId={other.record_id})" in letter["ErrorMessage"]]
    # AND every other item is stored, with its properties; no poison item is
    assert set(stored) == {("item", entry.record_id) for entry in good}
    assert all(
        stored[("item", entry.record_id or "")]["properties"] == as_stored(entry.properties or {}) for entry in good
    )
    # AND the rejection came from the service, not from the handler's own validation
    assert rejected_calls


# --- retries exhausted --------------------------------------------------------------------------------------


def test_ingest_put_always_5xx_dead_lettered_as_retries_exhausted_on_last_delivery() -> None:
    # GIVEN an emulator answering every Put* call with a 5xx, and a queue that redrives after 2 receives
    max_receive_count = 2
    config = EmulatorConfig(**LIFECYCLE, server_error_rate=1.0)
    stream = [item(index) for index in range(4)]
    with LocalPipeline(
        kinds=("item",),
        emulator_config=config,
        visibility_timeout_s=VISIBILITY_TIMEOUT_S,
        max_receive_count=max_receive_count,
    ) as pipeline:
        published = publish(pipeline, stream)

        # WHEN the real handler drains the queue
        summary = pipeline.drain(function_timeout_s=FUNCTION_TIMEOUT_S, max_seconds=30)

        # THEN every message is in the DLQ as RetriesExhausted, with the last error and its original body
        depth = pipeline.queue_depth()
        letters = by_source(pipeline.dead_letters())
        stored = stored_records(pipeline)
        calls = put_calls(pipeline, "PutItems")

    assert depth == 0
    assert set(letters) == {message.message_id for message in published}
    for message in published:
        letter = letters[message.message_id]
        assert (letter["ErrorCode"], letter["Api"], letter["body"]) == (
            "RetriesExhausted",
            "PutItems",
            message.change.body,
        )
        assert re.match(r"(InternalFailure|ServiceUnavailable): ", letter["ErrorMessage"]), letter["ErrorMessage"]
    # AND the handler kept each message through its earlier deliveries and wrote it on the last one:
    # received exactly maxReceiveCount times, reported failed on all but the last, then acknowledged
    assert summary.batches_failed == 0
    assert summary.messages_received == len(published) * max_receive_count
    assert summary.messages_reported_failed == len(published) * (max_receive_count - 1)
    assert summary.messages_deleted == len(published)
    # AND nothing was stored, though the handler did try
    assert stored == {}
    assert calls
    assert {c["fault"] for c in calls} == {"server_error"}


# --- setup errors -------------------------------------------------------------------------------------------


def wait_gone(pipeline: LocalPipeline, dataset_arn: str, timeout_s: float = 5.0) -> None:
    """Poll DescribeDataset until the emulator answers ResourceNotFound."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            pipeline.personalize.describe_dataset(datasetArn=dataset_arn)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ResourceNotFoundException":
                return
            raise
        time.sleep(0.01)
    raise AssertionError(f"{dataset_arn} was not deleted within {timeout_s} s")


def test_ingest_items_dataset_deleted_items_redriven_by_the_queue_not_dead_lettered_by_the_handler() -> None:
    # GIVEN a queue that redrives after 2 receives, an Items dataset deleted after deployment (a setup
    # error), and a stream of items and actions
    max_receive_count = 2
    with LocalPipeline(
        kinds=("item", "action"),
        emulator_config=EmulatorConfig(**LIFECYCLE),
        visibility_timeout_s=VISIBILITY_TIMEOUT_S,
        max_receive_count=max_receive_count,
    ) as pipeline:
        items_arn = pipeline.provisioned.datasets["item"]
        pipeline.personalize.delete_dataset(datasetArn=items_arn)
        wait_gone(pipeline, items_arn)
        items = [item(index) for index in range(3)]
        actions = [action(index) for index in range(2)]
        publish(pipeline, [*items, *actions])

        # WHEN the real handler drains the queue
        summary = pipeline.drain(function_timeout_s=FUNCTION_TIMEOUT_S, max_seconds=30)

        # THEN the items reached the DLQ through the redrive policy: their original bodies, without ErrorCode
        depth = pipeline.queue_depth()
        letters = pipeline.dead_letters()
        stored_actions = pipeline.emulator.state.records(pipeline.provisioned.datasets["action"])
        stats = pipeline.emulator.state.stats()

    assert depth == 0
    assert sorted(letter["body"] for letter in letters) == sorted(entry.body for entry in items)
    assert [letter for letter in letters if "ErrorCode" in letter or "SourceMessageId" in letter] == []
    # AND the handler reported them as failed on every delivery, the last one included, and never
    # acknowledged them; the actions, unaffected, were acknowledged on their first delivery
    assert summary.batches_failed == 0
    assert summary.messages_reported_failed == len(items) * max_receive_count
    assert summary.messages_deleted == len(actions)
    # AND the emulator stored no item (no PutItems was even attempted) and every action
    assert "PutItems" not in stats["calls"]
    assert sorted(record["actionId"] for record in stored_actions) == sorted(entry.record_id for entry in actions)


def test_ingest_stale_event_tracking_id_events_redriven_by_the_queue_not_dead_lettered_by_the_handler() -> None:
    # GIVEN a handler whose EVENT_TRACKING_ID names no tracker (a deleted one, or a typo in bring-your-own mode):
    # PutEvents answers InvalidInputException, the only error its model has
    max_receive_count = 2
    with LocalPipeline(
        kinds=("event",),
        emulator_config=EmulatorConfig(**LIFECYCLE),
        visibility_timeout_s=VISIBILITY_TIMEOUT_S,
        max_receive_count=max_receive_count,
    ) as pipeline:
        events = [event(index) for index in range(4)]
        publish(pipeline, events)

        # WHEN the real handler drains the queue
        summary = pipeline.drain(
            function_timeout_s=FUNCTION_TIMEOUT_S,
            max_seconds=30,
            extra_environment={"EVENT_TRACKING_ID": "0a1b2c3d-dead-tracker"},
        )
        letters = pipeline.dead_letters()
        stored = pipeline.emulator.state.events()

    # THEN it is a setup error: the handler never dead-letters the events (no ErrorCode); the queue's redrive
    # policy moves them, untouched, after the last delivery
    assert stored == []
    assert sorted(letter["body"] for letter in letters) == sorted(entry.body for entry in events)
    assert [letter for letter in letters if "ErrorCode" in letter] == []
    assert summary.messages_reported_failed == len(events) * max_receive_count
    assert summary.messages_deleted == 0


# --- duplicates ---------------------------------------------------------------------------------------------


def test_ingest_duplicates_in_one_batch_collapse_to_the_newest() -> None:
    # GIVEN three versions of one item and two other items, sent in one SendMessageBatch, oldest first
    versions = [change("item", "sku-dup", {"price": price}) for price in (1.0, 2.0, 3.0)]
    others = [item(1), item(2)]
    stream = [versions[0], others[0], versions[1], others[1], versions[2]]
    with LocalPipeline(kinds=("item",), emulator_config=EmulatorConfig(**LIFECYCLE)) as pipeline:
        publish(pipeline, stream)

        # WHEN one poller drains the queue in batches of ten, so all five share one batch
        summary = pipeline.drain(
            max_concurrency=1, batch_size=10, function_timeout_s=FUNCTION_TIMEOUT_S, max_seconds=30
        )

        # THEN the newest version is stored, and it alone of the three was sent
        depth = pipeline.queue_depth()
        stored = stored_records(pipeline)
        letters = pipeline.dead_letters()
        records_sent = sum(c["records"] for c in put_calls(pipeline, "PutItems"))

    assert summary.invocations == 1, "precondition: the five messages shared one batch"
    assert stored[("item", "sku-dup")]["properties"] == {"price": 3.0}
    assert set(stored) == {("item", "sku-dup"), ("item", "sku-001"), ("item", "sku-002")}
    assert records_sent == 3
    # AND every message, the superseded versions included, was acknowledged: none left, none dead-lettered
    assert summary.messages_deleted == len(stream)
    assert depth == 0
    assert letters == []


# --- FIFO ---------------------------------------------------------------------------------------------------


def read_fifo_dead_letters(pipeline: LocalPipeline) -> list[dict[str, Any]]:
    """Every letter in the FIFO DLQ, with its attributes and group, deleted as read.

    ``LocalPipeline.dead_letters`` holds what it read in flight, which on a FIFO queue hides the rest of each
    message group from the next receive; deleting as we go lets every group come out.
    """
    letters: list[dict[str, Any]] = []
    while True:
        batch = pipeline.sqs.receive_message(
            QueueUrl=pipeline.queues.dlq_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not batch:
            return letters
        for message in batch:
            attributes = {name: value["StringValue"] for name, value in message.get("MessageAttributes", {}).items()}
            letters.append({"body": message["Body"], "group": message["Attributes"]["MessageGroupId"], **attributes})
            pipeline.sqs.delete_message(QueueUrl=pipeline.queues.dlq_url, ReceiptHandle=message["ReceiptHandle"])


def session_stream(sessions: int, steps: int) -> list[dict[str, Any]]:
    """Each session: events and action interactions interleaved, the user signing in halfway (userId changes).

    One session is one FIFO message group (the publisher groups both kinds by sessionId) that needs several
    calls: PutEvents and PutActionInteractions alternate, and PutEvents carries one userId per call.
    """
    changes: list[dict[str, Any]] = []
    for step in range(steps):
        for session in range(sessions):
            n = step * sessions + session
            user_id = f"guest-{session}" if step < steps // 2 else f"member-{session}"
            if step % 3 == 1:
                changes.append(
                    {
                        "type": "actionInteraction",
                        "actionId": f"act-{n:03d}",
                        "sessionId": f"s-{session}",
                        "userId": user_id,
                        "eventType": "Taken",
                        "timestamp": 1_763_805_600 + n,
                        "properties": {"channel": "email"},
                    }
                )
            else:
                changes.append(
                    {
                        "type": "event",
                        "sessionId": f"s-{session}",
                        "userId": user_id,
                        "eventType": "click",
                        "itemId": f"sku-e-{n:03d}",
                        "sentAt": 1_763_805_600 + n,
                        "properties": {"DEVICE": "ios"},
                    }
                )
    return changes


def stream_key(change: Mapping[str, Any]) -> str:
    """What tells a change of the session stream apart in the emulator: its itemId or actionId."""
    return str(change.get("itemId") or change.get("actionId"))


def test_ingest_fifo_publisher_stream_each_group_stored_in_order_poison_in_the_fifo_dlq() -> None:
    # GIVEN FIFO queues, an emulator that throttles 15 % and fails 15 % of Put* calls (seeded) and refuses ids
    # containing "poison", and a stream sent with the publisher (it sets each message's group and dedup id):
    # three sessions of interleaved events and action interactions, one event of them refused by the service
    # and one violating the schema; three versions of two items each (group item#<id>), and a refused item
    from tools.publisher import Publisher, canonical_body

    # 0.1 s per call: a session's group needs a round of calls per step, so an invocation's 1.5 s of sending runs
    # out mid-group, and the rest of the group must come back through SQS, in order.
    config = EmulatorConfig(
        **LIFECYCLE,
        throttle_rate=0.15,
        server_error_rate=0.15,
        latency=0.1,
        seed=17,
        reject_records=re.compile("poison"),
    )
    sessions = session_stream(sessions=3, steps=8)
    poison_event = {**sessions[7], "itemId": "sku-e-poison"}
    bad_event = {**sessions[11], "properties": {"colour": "red"}}
    sessions[7], sessions[11] = poison_event, bad_event
    versions = [
        {"type": "item", "itemId": f"sku-{name}", "properties": {"price": float(version)}}
        for version in (1, 2, 3)
        for name in ("a", "b")
    ]
    poison_item = {"type": "item", "itemId": "sku-poison", "properties": {"price": 1.0}}
    stream = [*sessions[:12], *versions, poison_item, *sessions[12:]]
    expected_letters = {
        canonical_body(poison_event): ("InvalidInput", "PutEvents", "s-1"),
        canonical_body(bad_event): ("SchemaViolation", None, "s-2"),
        canonical_body(poison_item): ("InvalidInput", "PutItems", "item#sku-poison"),
    }
    # The visibility timeout outlasts the function timeout (AWS advises 6x): an invocation slowed past its timeout
    # (a cold start on a busy machine) must not still be sending a group when SQS hands that group to another poller.
    with LocalPipeline(
        kinds=("item", "event", "actionInteraction"),
        emulator_config=config,
        fifo=True,
        visibility_timeout_s=6,
        max_receive_count=10,
    ) as pipeline:
        report = Publisher(pipeline.queues.url, sqs_client=pipeline.sqs).publish(stream)
        assert report.unsent == []
        assert report.sent == len(stream)

        # WHEN the real handler drains the FIFO queue
        summary = pipeline.drain(function_timeout_s=FUNCTION_TIMEOUT_S, max_seconds=90)

        # THEN the queue is empty, faults did happen, and no acknowledgement broke a group's order
        depth = pipeline.queue_depth()
        stats = pipeline.emulator.state.stats()
        stored_items = stored_records(pipeline)
        arrivals = pipeline.emulator.state.events()
        letters = read_fifo_dead_letters(pipeline)

    assert pipeline.queues.dlq_url.endswith(".fifo")
    assert summary.stopped_reason == "drained"
    assert depth == 0
    assert sum(stats["faults"].values()) > 0
    assert summary.fifo_order_violations == 0
    assert summary.messages_reported_failed > 0, "part of each group went round through SQS redelivery"
    # AND each session's events and action interactions were stored in the order published (a redelivered one,
    # stored again under the same eventId, counts where it first arrived), the dead-lettered ones excepted
    for session in ("s-0", "s-1", "s-2"):
        published = [
            stream_key(change)
            for change in stream
            if change.get("sessionId") == session and canonical_body(change) not in expected_letters
        ]
        stored: list[str] = []
        for record in arrivals:
            if record["sessionId"] == session and stream_key(record) not in stored:
                stored.append(stream_key(record))
        assert stored == published, (session, summary)
    # AND each item holds its last version (an older one applied after it would show)
    assert {key: record["properties"] for key, record in stored_items.items()} == {
        ("item", "sku-a"): {"price": 3.0},
        ("item", "sku-b"): {"price": 3.0},
    }
    # AND the FIFO DLQ holds exactly the poison, each with its original body, its group and Contract 3's attributes
    assert sorted(letter["body"] for letter in letters) == sorted(expected_letters)
    for letter in letters:
        code, api, group = expected_letters[letter["body"]]
        assert (letter["ErrorCode"], letter.get("Api"), letter["group"]) == (code, api, group)
        assert letter["ErrorMessage"]
        assert letter["SourceMessageId"]
