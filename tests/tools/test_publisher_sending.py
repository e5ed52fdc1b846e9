"""The publisher's sending: SendMessageBatch packing, validation before sending, retries, FIFO ids on the wire.

SQS is moto, in-process (``mock_aws``); failures SQS reports per entry are injected by a client wrapper that
forwards the other entries to moto, so the queue holds exactly what a real queue would.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.fakes import client_error
from tests.support.sqs_events import action, action_interaction, event, item, user
from tests.tools.publisher_support import create_fifo_queue, create_standard_queue, drain, mocked_sqs
from tools.publisher import (
    CHANGED_AT,
    MAX_BATCH_BYTES,
    Problem,
    Publisher,
    canonical_body,
)


class Spy:
    """Forwards SendMessageBatch to moto, recording each call's entries; can fail entries or whole calls.

    ``fail(call, entry)`` returns None to forward the entry, or ``(code, sender_fault)`` to report it failed
    without sending it. ``raise_on(call)`` returns an exception to raise instead of calling at all.
    """

    def __init__(
        self,
        client: Any,
        fail: Callable[[int, dict[str, Any]], tuple[str, bool] | None] = lambda call, entry: None,
        raise_on: Callable[[int], Exception | None] = lambda call: None,
    ) -> None:
        self.client = client
        self.fail = fail
        self.raise_on = raise_on
        self.calls: list[list[dict[str, Any]]] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        call = len(self.calls)
        self.calls.append(list(Entries))
        error = self.raise_on(call)
        if error is not None:
            raise error
        failed, forwarded = [], []
        for entry in Entries:
            verdict = self.fail(call, entry)
            if verdict is None:
                forwarded.append(entry)
            else:
                code, sender_fault = verdict
                failed.append({"Id": entry["Id"], "SenderFault": sender_fault, "Code": code, "Message": "injected"})
        response: dict[str, Any] = {"Successful": [], "Failed": failed}
        if forwarded:
            real = self.client.send_message_batch(QueueUrl=QueueUrl, Entries=forwarded)
            response["Successful"] = real.get("Successful", [])
            response["Failed"] += real.get("Failed", [])
        return response

    def bodies(self, call: int) -> list[dict[str, Any]]:
        return [json.loads(entry["MessageBody"]) for entry in self.calls[call]]


class Sleeps(list[float]):
    """Records the backoff delays instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from mocked_sqs(monkeypatch)


@pytest.fixture
def queue_url(sqs: Any) -> str:
    return create_standard_queue(sqs)


@pytest.fixture
def fifo_queue_url(sqs: Any) -> str:
    return create_fifo_queue(sqs)


def make_publisher(url: str, client: Any, **kwargs: Any) -> Publisher:
    kwargs.setdefault("sleep", Sleeps())
    return Publisher(url, sqs_client=client, **kwargs)


# --- batching ---------------------------------------------------------------------------------------------------


def test_publish_25_changes_sends_three_calls_of_at_most_ten_in_order(sqs: Any, queue_url: str) -> None:
    changes = [item(f"sku-{n}") for n in range(25)]
    spy = Spy(sqs)

    report = make_publisher(queue_url, spy).publish(changes)

    assert (report.sent, report.unsent, report.calls) == (25, [], 3)
    assert [len(entries) for entries in spy.calls] == [10, 10, 5]
    assert [body["itemId"] for call in range(3) for body in spy.bodies(call)] == [f"sku-{n}" for n in range(25)]
    assert sorted(json.loads(message["Body"])["itemId"] for message in drain(sqs, queue_url)) == sorted(
        f"sku-{n}" for n in range(25)
    )


def test_publish_large_changes_packs_batches_under_256_kib_counting_bytes(sqs: Any, queue_url: str) -> None:
    # 30,000 "é" are 30,000 characters but 60,000 bytes: four fit in 256 KiB, five do not.
    changes = [item(f"sku-{n}", description="é" * 30_000) for n in range(10)]
    spy = Spy(sqs)

    report = make_publisher(queue_url, spy).publish(changes)

    assert report.sent == 10
    assert [len(entries) for entries in spy.calls] == [4, 4, 2]
    for entries in spy.calls:
        assert sum(len(entry["MessageBody"].encode()) for entry in entries) <= MAX_BATCH_BYTES
    assert len(drain(sqs, queue_url)) == 10


def test_publish_change_over_the_limit_reported_too_large_and_others_sent(sqs: Any, queue_url: str) -> None:
    changes = [item("sku-small"), item("sku-huge", description="x" * MAX_BATCH_BYTES), item("sku-small-2")]

    report = make_publisher(queue_url, sqs).publish(changes)

    assert report.sent == 2
    assert [(unsent.index, unsent.problem) for unsent in report.unsent] == [(1, Problem.TOO_LARGE)]
    assert "limit is 262144" in report.unsent[0].reason
    assert len(drain(sqs, queue_url)) == 2


def test_publish_body_is_canonical_json_of_the_change(sqs: Any, queue_url: str) -> None:
    change = {"properties": {"price": 1.5, "genres": ["Horror"]}, "itemId": "sku-ü", "type": "item"}

    make_publisher(queue_url, sqs, clock=lambda: 1_763_805_600.25).publish([change])

    (message,) = drain(sqs, queue_url)
    assert message["Body"] == (
        '{"changedAt":1763805600250,"itemId":"sku-ü","properties":{"genres":["Horror"],"price":1.5},"type":"item"}'
    )
    assert json.loads(message["Body"]) == {**change, CHANGED_AT: 1_763_805_600_250}


def test_publish_changed_at_strictly_increases_over_upserts_and_is_absent_from_occurrences(
    sqs: Any, queue_url: str
) -> None:
    # A clock that stalls, then steps back (an NTP correction): changedAt still orders the changes as published,
    # since on a standard queue it is what says which change to a record is the newest (docs/contracts.md §1).
    ticks = iter([1_763_805_600.0, 1_763_805_600.0, 1_763_805_599.0, 1_763_805_601.0, 1_763_805_601.0])
    spy = Spy(sqs)
    changes = [
        item("sku-1"),
        action("a-7"),
        event("s-1", "u-1", "sku-1"),
        user("u-1"),
        action_interaction("a-7", "s-2"),
    ]
    changes += [item("sku-1", price=2), user("u-1")]

    report = make_publisher(queue_url, spy, clock=lambda: next(ticks)).publish(changes)

    assert report.sent == len(changes)
    # Events and action interactions carry their own time, and their FIFO deduplication id is their body's digest.
    assert [body.get(CHANGED_AT) for body in spy.bodies(0)] == [
        1_763_805_600_000,
        1_763_805_600_001,
        None,
        1_763_805_600_002,
        None,
        1_763_805_601_000,
        1_763_805_601_001,
    ]


# --- validation -------------------------------------------------------------------------------------------------


def test_publish_invalid_changes_reported_with_reason_and_not_sent(sqs: Any, queue_url: str) -> None:
    changes = [
        item("sku-1"),
        {"type": "item", "itemId": "i" * 257},
        {"type": "product", "itemId": "sku-2"},
        ["not", "an", "object"],
        {**event("s-1", "u-1", "sku-1"), "sentAt": 1_763_805_600_000},
        {"type": "item", "itemId": "sku-3", "properties": {"price": float("nan")}},
        user("u-1"),
    ]

    report = make_publisher(queue_url, sqs).publish(changes)

    assert report.sent == 2
    reasons = {unsent.index: unsent.reason for unsent in report.unsent}
    assert reasons.pop(5).startswith("not serialisable as JSON: Out of range float values are not JSON compliant")
    assert reasons == {
        1: "itemId: must have at most 256 characters",
        2: "type: must be one of item, action, user, event, actionInteraction",
        3: "message: must be a JSON object",
        4: "sentAt: must be at most 9999999999",
    }
    assert {unsent.problem for unsent in report.unsent} == {Problem.INVALID}
    assert sorted(json.loads(message["Body"])["type"] for message in drain(sqs, queue_url)) == ["item", "user"]


def test_publish_lone_surrogate_reported_invalid_and_not_sent(sqs: Any, queue_url: str) -> None:
    changes = [user("u-1"), {"type": "item", "itemId": "sku-\ud800", "properties": {"price": 1}}]

    report = make_publisher(queue_url, sqs).publish(changes)

    assert report.sent == 1
    [unsent] = report.unsent
    assert (unsent.index, unsent.problem) == (1, Problem.INVALID)
    assert "surrogate" in unsent.reason


# --- retries ----------------------------------------------------------------------------------------------------


def test_publish_entries_sqs_failed_on_its_side_are_retried_until_sent(sqs: Any, queue_url: str) -> None:
    # The first call fails entries 2 and 5 as SQS's own fault; they must go again, and only they.
    spy = Spy(
        sqs, fail=lambda call, entry: ("InternalError", False) if call == 0 and entry["Id"] in {"2", "5"} else None
    )
    sleeps = Sleeps()

    report = make_publisher(queue_url, spy, sleep=sleeps).publish([item(f"sku-{n}") for n in range(8)])

    assert (report.sent, report.unsent, report.retries, report.calls) == (8, [], 2, 2)
    assert [entry["Id"] for entry in spy.calls[1]] == ["2", "5"]
    assert len(sleeps) == 1
    assert sorted(json.loads(message["Body"])["itemId"] for message in drain(sqs, queue_url)) == [
        f"sku-{n}" for n in range(8)
    ]


def test_publish_entry_failing_every_attempt_reported_retries_exhausted(sqs: Any, queue_url: str) -> None:
    spy = Spy(sqs, fail=lambda call, entry: ("ServiceUnavailable", False) if entry["Id"] == "1" else None)
    sleeps = Sleeps()

    report = make_publisher(queue_url, spy, max_attempts=3, sleep=sleeps, base_delay_s=1.0).publish(
        [item("sku-0"), item("sku-1"), item("sku-2")]
    )

    assert report.sent == 2
    assert [(u.index, u.problem, u.reason) for u in report.unsent] == [
        (1, Problem.RETRIES_EXHAUSTED, "ServiceUnavailable: injected")
    ]
    assert len(spy.calls) == 3
    assert len(sleeps) == 2
    assert all(0 <= delay <= 2.0 for delay in sleeps)  # full jitter under base * 2 ** (attempt - 2)


def test_publish_sender_fault_reported_at_once_without_retry(sqs: Any, queue_url: str) -> None:
    spy = Spy(sqs, fail=lambda call, entry: ("InvalidMessageContents", True) if entry["Id"] == "0" else None)
    sleeps = Sleeps()

    report = make_publisher(queue_url, spy, sleep=sleeps).publish([item("sku-0"), item("sku-1")])

    assert report.sent == 1
    assert [(u.index, u.problem, u.reason) for u in report.unsent] == [
        (0, Problem.REJECTED, "InvalidMessageContents: injected")
    ]
    assert (len(spy.calls), sleeps) == (1, [])


def test_publish_throttled_call_retried_whole(sqs: Any, queue_url: str) -> None:
    throttled = client_error("RequestThrottled", 400, "slow down", "SendMessageBatch")
    spy = Spy(sqs, raise_on=lambda call: throttled if call == 0 else None)

    report = make_publisher(queue_url, spy).publish([item("sku-0"), item("sku-1")])

    assert (report.sent, report.unsent, report.retries, report.calls) == (2, [], 2, 2)
    assert len(drain(sqs, queue_url)) == 2


def test_publish_missing_queue_reports_every_change_after_one_call(sqs: Any, queue_url: str) -> None:
    missing = queue_url.replace("/ingest", "/no-such-queue")
    spy = Spy(sqs)

    report = make_publisher(missing, spy).publish([item(f"sku-{n}") for n in range(25)])

    assert report.sent == 0
    assert len(spy.calls) == 1
    assert [u.problem for u in report.unsent] == [Problem.REJECTED] * 10 + [Problem.ABORTED] * 15
    assert "NonExistentQueue" in report.unsent[0].reason
    assert report.unsent[-1].reason.startswith("not attempted after AWS.SimpleQueueService.NonExistentQueue")


# --- FIFO -------------------------------------------------------------------------------------------------------


def test_publish_fifo_sets_group_per_record_or_session_and_deduplication_per_kind(
    sqs: Any, fifo_queue_url: str
) -> None:
    changes = [
        item("sku-1"),
        action("a-7"),
        user("u-1"),
        event("s-1", "u-1", "sku-1"),
        action_interaction("a-7", "s-2"),
    ]

    report = make_publisher(fifo_queue_url, sqs).publish(changes)

    assert report.sent == 5
    received = {json.loads(message["Body"])["type"]: message["Attributes"] for message in drain(sqs, fifo_queue_url)}
    assert {kind: attributes["MessageGroupId"] for kind, attributes in received.items()} == {
        "item": "item#sku-1",
        "action": "action#a-7",
        "user": "user#u-1",
        "event": "s-1",
        "actionInteraction": "s-2",
    }
    # Occurrences are deduplicated by content: the handler derives the same eventId from the same id.
    for change in changes[3:]:
        expected = hashlib.sha256(canonical_body(change).encode()).hexdigest()
        assert received[change["type"]]["MessageDeduplicationId"] == expected
    # States are not (see the next tests): one id per change, within SQS's 128-character limit.
    upsert_ids = [received[kind]["MessageDeduplicationId"] for kind in ("item", "action", "user")]
    assert len(set(upsert_ids)) == 3
    assert all(re.fullmatch(r"[0-9a-f]{32}", dedup) for dedup in upsert_ids)


def test_publish_fifo_identical_event_twice_queued_once(sqs: Any, fifo_queue_url: str) -> None:
    report = make_publisher(fifo_queue_url, sqs).publish([event("s-1", "u-1", "sku-1")] * 2)

    assert report.sent == 2  # SQS accepts a duplicate and drops it: the deduplication id did its job
    assert len(drain(sqs, fifo_queue_url)) == 1


def test_publish_fifo_item_changed_back_to_an_earlier_state_is_queued_every_time(sqs: Any, fifo_queue_url: str) -> None:
    # 10 → 12 → 10 within SQS's five-minute deduplication window: the last change has the first one's body. Were
    # it deduplicated by content, the item would stay at 12.
    changes = [item("sku-1", price=10), item("sku-1", price=12), item("sku-1", price=10)]

    report = make_publisher(fifo_queue_url, sqs).publish(changes)
    # A second publisher (another process, a minute later) sending the same state again is queued as well.
    make_publisher(fifo_queue_url, sqs).publish([item("sku-1", price=12)])

    assert report.sent == 3
    prices = [json.loads(message["Body"])["properties"]["price"] for message in drain(sqs, fifo_queue_url)]
    assert prices == [10, 12, 10, 12]


def test_publish_fifo_retried_entry_keeps_its_deduplication_id(sqs: Any, fifo_queue_url: str) -> None:
    # SQS failed the entry on its side, perhaps after queueing it: the retry must be deduplicated against it.
    spy = Spy(sqs, fail=lambda call, entry: ("InternalError", False) if call == 0 and entry["Id"] == "1" else None)

    report = make_publisher(fifo_queue_url, spy).publish([item("sku-1"), item("sku-2"), event("s-1", "u-1", "i-1")])

    assert (report.sent, report.calls) == (3, 2)
    [retried] = spy.calls[1]
    [first] = [entry for entry in spy.calls[0] if entry["Id"] == "1"]
    assert retried["MessageDeduplicationId"] == first["MessageDeduplicationId"]


def test_publish_standard_queue_sets_no_fifo_ids(sqs: Any, queue_url: str) -> None:
    spy = Spy(sqs)

    make_publisher(queue_url, spy).publish([item("sku-1"), event("s-1", "u-1", "sku-1")])

    assert all("MessageGroupId" not in e and "MessageDeduplicationId" not in e for e in spy.calls[0])


def test_publish_fifo_failed_upsert_superseded_by_later_accepted_change_not_resent(
    sqs: Any, fifo_queue_url: str
) -> None:
    # v1 fails on SQS's side while v2 of the same item, later in the call, is accepted: resending v1 would queue
    # it behind v2 and the handler would apply the older version last.
    spy = Spy(sqs, fail=lambda call, entry: ("InternalError", False) if entry["Id"] in {"0", "2"} else None)
    changes = [item("sku-1", genres="v1"), item("sku-1", genres="v2"), item("sku-2")]

    report = make_publisher(fifo_queue_url, spy, max_attempts=2).publish(changes)

    assert (report.sent, report.superseded) == (1, 1)
    assert [(u.index, u.problem) for u in report.unsent] == [(2, Problem.RETRIES_EXHAUSTED)]
    assert [entry["Id"] for entry in spy.calls[1]] == ["2"]
    assert [json.loads(m["Body"])["properties"]["genres"] for m in drain(sqs, fifo_queue_url)] == ["v2"]
