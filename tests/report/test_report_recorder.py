"""The recorder: invocations seen through the wrapped handler, queue samples, the SentTimestamp of a batch."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from local.report import QueueSampler, TimelineRecorder, oldest_sent_at


class Clock:
    """A clock the test moves."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def sqs_record(message_id: str, sent_ms: str | None) -> dict[str, Any]:
    attributes = {"ApproximateReceiveCount": "1"}
    if sent_ms is not None:
        attributes["SentTimestamp"] = sent_ms
    return {"messageId": message_id, "body": "{}", "attributes": attributes}


def test_oldest_sent_at_earliest_timestamp_in_seconds_unparseable_skipped() -> None:
    records = [sqs_record("a", "1800000002500"), sqs_record("b", "1800000001000"), sqs_record("c", "soon")]

    assert oldest_sent_at(records) == 1_800_000_001.0
    assert oldest_sent_at([sqs_record("a", None)]) is None


def test_observe_each_call_one_invocation_with_its_batch_even_when_it_raises() -> None:
    # GIVEN a recorder whose clock moves one second per handler call
    clock = Clock(100.0)
    recorder = TimelineRecorder(clock)

    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        clock.now += 1.0
        if event.get("fail"):
            raise RuntimeError("boom")
        return {"batchItemFailures": []}

    observed = recorder.observe(handler)

    # WHEN it handles two events, the second of which raises
    assert observed({"Records": [sqs_record("a", "99000"), sqs_record("b", "98500")]}, None) == {
        "batchItemFailures": []
    }
    with pytest.raises(RuntimeError, match="boom"):
        observed({"Records": [sqs_record("c", "100500")], "fail": True}, None)

    # THEN both are recorded, with their span, batch size and oldest message
    spans = recorder.recording().invocations
    assert [(s.started_at, s.ended_at, s.messages, s.oldest_sent_at) for s in spans] == [
        (100.0, 101.0, 2, 98.5),
        (101.0, 102.0, 1, 100.5),
    ]


def test_recording_running_invocation_has_no_end_and_is_a_copy() -> None:
    recorder = TimelineRecorder(Clock(5.0))
    token = recorder.invocation_started(messages=3)
    running = recorder.recording()

    recorder.invocation_ended(token)

    assert running.invocations[0].ended_at is None
    assert recorder.recording().invocations[0].ended_at == 5.0
    assert running.started_at == 5.0


def test_invocations_from_many_threads_all_recorded() -> None:
    recorder = TimelineRecorder()
    observed = recorder.observe(lambda event, context: None)

    threads = [threading.Thread(target=observed, args=({"Records": []}, None)) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(recorder.recording().invocations) == 16


class FakeSqs:
    """GetQueueAttributes answers for two queues, as boto3 returns them."""

    def __init__(self, answers: dict[str, dict[str, str]]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, list[str]]] = []

    def get_queue_attributes(self, *, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
        self.asked.append((QueueUrl, AttributeNames))
        return {"Attributes": self.answers[QueueUrl]}


def test_queue_sampler_samples_both_queues_on_start_and_stop() -> None:
    sqs = FakeSqs(
        {
            "ingest": {
                "ApproximateNumberOfMessages": "7",
                "ApproximateNumberOfMessagesNotVisible": "3",
                "ApproximateNumberOfMessagesDelayed": "1",
            },
            "dlq": {"ApproximateNumberOfMessages": "2", "ApproximateNumberOfMessagesNotVisible": "1"},
        }
    )
    recorder = TimelineRecorder(Clock(50.0))

    # An interval far longer than the test: only the first and the last sample are taken.
    with QueueSampler(recorder, sqs, queue_url="ingest", dead_letter_queue_url="dlq", interval_s=3600):  # type: ignore[arg-type]
        pass

    samples = recorder.recording().queue_samples
    assert [(s.at, s.visible, s.in_flight, s.delayed, s.dead_letters) for s in samples] == [(50.0, 7, 3, 1, 3)] * 2
    assert {names[0] for _, names in sqs.asked} == {"All"}


def test_queue_sampler_interval_not_positive_refused() -> None:
    with pytest.raises(ValueError, match="interval_s must be positive"):
        QueueSampler(TimelineRecorder(), FakeSqs({}), queue_url="q", interval_s=0)  # type: ignore[arg-type]
