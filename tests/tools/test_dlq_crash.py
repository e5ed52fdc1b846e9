"""A crash between copy and delete, in redrive and replay, against moto's SQS server: nothing is lost, and the
next run finishes the job; the copies sent twice name one source message."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from contract import ORIGIN_MESSAGE_ID_ATTRIBUTE
from local.sqs_server import QueuePair
from tests.emulator.emulator_helpers import Setup
from tests.support.sqs_fakes import CrashingSqs, SimulatedCrash
from tests.tools.conftest import QueuePairFactory
from tests.tools.dlq_support import (
    COLORED,
    FAST,
    ITEM,
    OVERPRICED,
    add_color_field,
    codes_of,
    counts,
    dead_letter,
    read_all,
    revalidator,
)
from tools.dlq.redrive import Method, redrive
from tools.dlq.replay import replay


def test_redrive_crash_between_copy_and_delete_loses_nothing(sqs: Any, queues: QueuePair) -> None:
    bodies = [json.dumps({"type": "item", "itemId": f"sku-{i}", "properties": {"price": i}}) for i in range(12)]
    for index, body in enumerate(bodies):
        dead_letter(sqs, queues.dlq_url, body, source=f"s-{index}")

    # GIVEN a redrive that dies once the second batch's copies are confirmed, before their originals are deleted
    with pytest.raises(SimulatedCrash):
        redrive(
            sqs=CrashingSqs(sqs, crash_on_batch=2),
            dlq_url=queues.dlq_url,
            queue_url=queues.url,
            method=Method.COPY,
            **FAST,
        )

    # THEN every message is in the ingest queue or still in the DLQ (the crashed batch: in both)
    in_queue = [m["Body"] for m in read_all(sqs, queues.url)]
    in_dlq = [m["Body"] for m in read_all(sqs, queues.dlq_url)]
    assert (len(in_queue), len(in_dlq)) == (12, 2)
    assert set(in_queue) == set(bodies)

    # WHEN the redrive runs again THEN the DLQ empties; the two copied twice are harmless duplicates
    report = redrive(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, method=Method.COPY, **FAST)
    assert len(report.outcome.moved) == 2
    assert counts(sqs, queues.dlq_url) == (0, 0)
    assert sorted({m["Body"] for m in read_all(sqs, queues.url)}) == sorted(bodies)


def test_redrive_hard_crash_after_copy_message_reappears_when_hold_ends(sqs: Any, queues: QueuePair) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM)

    # GIVEN a process killed after the copy: neither the delete nor the release of held messages happens
    with pytest.raises(SimulatedCrash):
        redrive(
            sqs=CrashingSqs(sqs, hard=True),
            dlq_url=queues.dlq_url,
            queue_url=queues.url,
            method=Method.COPY,
            hold_seconds=1,
            **FAST,
        )
    assert counts(sqs, queues.dlq_url) == (0, 1)  # hidden, not gone

    # THEN SQS shows it again when the hold ends, and a second run moves it
    time.sleep(1.2)
    assert counts(sqs, queues.dlq_url) == (1, 0)
    redrive(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, method=Method.COPY, **FAST)
    assert counts(sqs, queues.dlq_url) == (0, 0)
    assert [m["Body"] for m in read_all(sqs, queues.url)] == [ITEM, ITEM]


def test_redrive_fifo_keeps_group_and_rerun_after_crash_is_deduplicated(
    sqs: Any, make_queues: QueuePairFactory
) -> None:
    fifo = make_queues(fifo=True)
    dead_letter(sqs, fifo.dlq_url, ITEM, group="customer-7", source="src-a")

    with pytest.raises(SimulatedCrash):
        redrive(sqs=CrashingSqs(sqs), dlq_url=fifo.dlq_url, queue_url=fifo.url, method=Method.COPY, **FAST)
    redrive(sqs=sqs, dlq_url=fifo.dlq_url, queue_url=fifo.url, method=Method.COPY, **FAST)

    # The copy's deduplication id is the DLQ message's id: the second copy is dropped by SQS, not delivered twice.
    (copy,) = read_all(sqs, fifo.url)
    assert copy["Attributes"]["MessageGroupId"] == "customer-7"
    assert copy["Body"] == ITEM
    assert counts(sqs, fifo.dlq_url) == (0, 0)


def test_redrive_fifo_group_behind_held_message_reached_by_second_run(sqs: Any, make_queues: QueuePairFactory) -> None:
    fifo = make_queues(fifo=True)
    # One group: a message that stays (MalformedMessage) ahead of eleven to move. A receive returns at most ten of
    # a group, and none after them while the first is held.
    dead_letter(sqs, fifo.dlq_url, "not json", "MalformedMessage", group="g", source="head")
    for index in range(11):
        dead_letter(sqs, fifo.dlq_url, ITEM, group="g", source=f"s-{index}")

    first = redrive(sqs=sqs, dlq_url=fifo.dlq_url, queue_url=fifo.url, codes=frozenset({"SchemaViolation"}), **FAST)
    second = redrive(sqs=sqs, dlq_url=fifo.dlq_url, queue_url=fifo.url, codes=frozenset({"SchemaViolation"}), **FAST)

    assert len(first.outcome.moved) == 9
    assert first.stopped is not None
    assert "waited behind messages this pass held" in first.stopped
    assert (len(second.outcome.moved), second.stopped) == (2, None)
    assert codes_of(read_all(sqs, fifo.dlq_url)) == ["MalformedMessage"]


def test_replay_crash_between_copy_and_delete_loses_nothing(
    sqs: Any, queues: QueuePair, personalize: Any, items_dataset: tuple[str, Setup]
) -> None:
    dataset, setup = items_dataset
    dead_letter(sqs, queues.dlq_url, COLORED, "SchemaViolation", source="colored")
    dead_letter(sqs, queues.dlq_url, OVERPRICED, "SchemaViolation", source="odd")
    add_color_field(personalize, setup, dataset)
    checker = revalidator(personalize, queues.dlq_url, item=dataset)

    # GIVEN a replay that dies once SQS confirmed the copy, before the original is deleted
    with pytest.raises(SimulatedCrash):
        replay(sqs=CrashingSqs(sqs), dlq_url=queues.dlq_url, queue_url=queues.url, revalidator=checker, **FAST)

    # THEN the copy is in the ingest queue and the original still in the DLQ, beside the one that still fails
    assert [m["Body"] for m in read_all(sqs, queues.url)] == [COLORED]
    assert sorted(m["Body"] for m in read_all(sqs, queues.dlq_url)) == sorted([COLORED, OVERPRICED])

    # WHEN replay runs again THEN only the still-failing one stays; the two copies name one source message, so
    # the Lambda would derive one eventId for both
    report = replay(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, revalidator=checker, **FAST)
    copies = read_all(sqs, queues.url)
    assert (len(report.outcome.moved), [m["Body"] for m in copies]) == (1, [COLORED, COLORED])
    assert {m["MessageAttributes"][ORIGIN_MESSAGE_ID_ATTRIBUTE]["StringValue"] for m in copies} == {"colored"}
    assert [m["Body"] for m in read_all(sqs, queues.dlq_url)] == [OVERPRICED]
