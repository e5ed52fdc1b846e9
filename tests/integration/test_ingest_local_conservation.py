"""The real ingest handler, run by the local event-source runner, against moto's SQS server and the emulator: nothing
is lost under faults.

No fakes and no mocks of what is tested: ``LocalPipeline`` starts moto's SQS server and the Personalize
emulator on loopback, creates the ingest queue and its dead-letter queue (redrive policy included) and
provisions the datasets; ``drain()`` imports ``ingest.handler.lambda_handler`` with the Lambda's environment
(docs/contracts.md §2) and polls the queue the way Lambda's event source mapping does. Failures come from the
emulator's seeded faults (throttling, 5xx) and its ``reject_records`` setting, which makes a record poison *through
its data* on the service side, past everything the handler validates itself.

The property checked (docs/design.md "The ingest algorithm", docs/contracts.md §3): every published message ends
either stored in the emulator (with its properties as sent, camelCase-normalised) or in the DLQ with the expected
ErrorCode and its original body, never both; for all five kinds, each through its own API (events and action
interactions through their tracking ids, a resent one under the eventId of its first send)."""

from __future__ import annotations

import json
import os
import random
import re

import pytest

import contract
from local.emulator import EmulatorConfig
from local.environment import LocalPipeline
from tests.integration.ingest_helpers import (
    FUNCTION_TIMEOUT_S,
    LIFECYCLE,
    STORED,
    STREAM_KEYS,
    VISIBILITY_TIMEOUT_S,
    Change,
    action,
    action_interaction,
    as_stored,
    by_source,
    change,
    event,
    invalid_changes,
    item,
    publish,
    stored_records,
    stored_stream,
    user,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("restored_environment")]


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
    # limit is generous: this test is about conservation, RetriesExhausted has its own. How many deliveries a
    # message needs depends on how much of each 1.5 s the machine gives the handler (10 once ran out on a clean
    # CI-like run), so the limit leaves room for a slow machine rather than measuring one.
    with LocalPipeline(
        kinds=("item", "action"),
        emulator_config=config,
        visibility_timeout_s=VISIBILITY_TIMEOUT_S,
        max_receive_count=30,
    ) as pipeline:
        published = publish(pipeline, stream)

        # WHEN the real handler drains the queue, in batches of ten (the invocations the timing above is reasoned on)
        summary = pipeline.drain(batch_size=10, function_timeout_s=FUNCTION_TIMEOUT_S, max_seconds=120)

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


# The ingest Lambda's environment (docs/contracts.md §2), Powertools' own variables aside.
LAMBDA_ENVIRONMENT = (
    *(spec.dataset_env for spec in contract.KIND_SPECS.values()),
    *(spec.tracking_env for spec in contract.KIND_SPECS.values() if spec.tracking_env is not None),
    contract.DEAD_LETTER_QUEUE_URL,
    contract.MAX_RECEIVE_COUNT,
)


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
        kinds=contract.KIND_NAMES,
        emulator_config=config,
        visibility_timeout_s=VISIBILITY_TIMEOUT_S,
        max_receive_count=10,
    ) as pipeline:
        published = publish(pipeline, stream)

        # WHEN the real handler, with the environment of all five datasets, drains the queue
        summary = pipeline.drain(function_timeout_s=FUNCTION_TIMEOUT_S, max_seconds=50)

        # (the environment the handler was cold-started with, as the stack would set it)
        environment = {name: os.environ.get(name) for name in LAMBDA_ENVIRONMENT}
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
