"""The real ingest handler on FIFO queues, fed by the publisher: each message group stored in order through
faults and redelivery, the poison in the FIFO dead-letter queue."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest

from local.emulator import EmulatorConfig
from local.environment import LocalPipeline
from tests.integration.ingest_helpers import FUNCTION_TIMEOUT_S, LIFECYCLE, stored_records

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("restored_environment")]


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


PUBLISHED_AT = 1_767_225_600.0


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
    # The publisher stamps each item change with the next millisecond of its (fixed) clock: the poison item is the
    # seventh item change published
    stamped_poison_item = {**poison_item, "changedAt": int(PUBLISHED_AT * 1_000) + 6}
    expected_letters = {
        canonical_body(poison_event): ("InvalidInput", "PutEvents", "s-1"),
        canonical_body(bad_event): ("SchemaViolation", None, "s-2"),
        canonical_body(stamped_poison_item): ("InvalidInput", "PutItems", "item#sku-poison"),
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
        # A fixed clock: the publisher stamps item changes with `changedAt`, and the dead letters' bodies are compared
        # with what it sent (each stamp is still one millisecond past the last, as a stalled clock gives)
        publisher = Publisher(pipeline.queues.url, sqs_client=pipeline.sqs, clock=lambda: PUBLISHED_AT)
        report = publisher.publish(stream)
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
    # AND the FIFO DLQ holds exactly the poison, each with its original body, its group and the dead-letter
    # attributes (docs/contracts.md §3)
    assert sorted(letter["body"] for letter in letters) == sorted(expected_letters)
    for letter in letters:
        code, api, group = expected_letters[letter["body"]]
        assert (letter["ErrorCode"], letter.get("Api"), letter["group"]) == (code, api, group)
        assert letter["ErrorMessage"]
        assert letter["SourceMessageId"]
