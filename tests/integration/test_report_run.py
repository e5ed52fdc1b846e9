"""The local report of a real run: the timeline agrees with the emulator's counters, the runner and the DLQ.

A small stream goes through moto's SQS and the real handler, recorded the way ``make demo`` records it (the
handler wrapped by the recorder, the queues sampled), so the call log's reading is checked against the
emulator's own counters rather than against itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local import demo
from local.emulator import EmulatorConfig
from local.environment import HANDLER, LocalPipeline
from local.report import QueueSampler, TimelineRecorder, build_timeline, dead_letters_from_messages, write_report
from local.runner import load_handler, run_event_source

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """Loading the handler writes its environment into ``os.environ``: undo that."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def dead_letters_with_times(pipeline: LocalPipeline) -> list[dict[str, Any]]:
    """The DLQ's letters: message attributes and SentTimestamp (the test only reads it, after the run)."""
    letters: list[dict[str, Any]] = []
    while batch := pipeline.sqs.receive_message(
        QueueUrl=pipeline.queues.dlq_url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["All"],
        VisibilityTimeout=60,
        WaitTimeSeconds=0,
    ).get("Messages", []):
        for message in batch:
            attributes = {name: value.get("StringValue", "") for name, value in message["MessageAttributes"].items()}
            letters.append({**attributes, "SentTimestamp": message["Attributes"]["SentTimestamp"]})
    return letters


def test_report_of_a_real_run_agrees_with_emulator_runner_and_dead_letters(tmp_path: Path) -> None:
    # GIVEN a small stream of every kind, with bad messages and injected throttling and 5xx
    config = EmulatorConfig(create_delay=0.01, delete_delay=0.01, throttle_rate=0.1, server_error_rate=0.05, seed=3)
    with LocalPipeline(kinds=demo.KINDS, emulator_config=config) as pipeline:
        recorder = TimelineRecorder()
        # WHEN it is published and drained while recorded
        with QueueSampler(
            recorder, pipeline.sqs, queue_url=pipeline.queues.url, dead_letter_queue_url=pipeline.queues.dlq_url
        ) as sampler:
            sent = demo.publish(pipeline, demo.build_stream(items=12, actions=4, users=6, seed=3))
            # The backlog as published, sampled before the runner starts taking it (its own samples come every
            # half second, and a warm runner can drain most of this stream in less)
            sampler.sample()
            handler = recorder.observe(load_handler(HANDLER, pipeline.handler_environment()))
            summary = run_event_source(
                queue_url=pipeline.queues.url,
                handler=handler,
                sqs_client=pipeline.sqs,
                max_concurrency=2,
                function_timeout_s=5.0,
                wait_time_s=1,
                max_seconds=60,
            )
        letters = dead_letters_with_times(pipeline)
        stats = pipeline.emulator.state.stats()
        timeline = build_timeline(
            calls=pipeline.emulator.state.calls(),
            recording=recorder.recording(),
            dead_letters=dead_letters_from_messages(letters),
        )

    # THEN the timeline's totals are the emulator's, the runner's and the DLQ's
    assert summary.stopped_reason == "drained"
    accepted = {api: sum(series) for api, series in timeline.records_accepted.items() if sum(series)}
    assert accepted == stats["recordsAccepted"]
    assert sum(timeline.calls["throttled"]) == sum(stats["throttled"].values())
    assert sum(timeline.calls["5xx"]) == stats["faults"].get("server_error", 0)
    put_calls = sum(entry["total"] for api, entry in stats["calls"].items() if api.startswith("Put"))
    assert sum(map(sum, timeline.calls.values())) == put_calls
    assert sum(map(sum, timeline.dead_letters.values())) == len(letters) > 0
    assert sum(timeline.invocations) == summary.invocations
    assert max(timeline.concurrency) == summary.peak_concurrency
    assert max(value or 0 for value in timeline.queue_visible) >= len(sent) // 2
    assert timeline.queue_visible[-1] == 0
    assert max(value or 0.0 for value in timeline.oldest_message_age_s) > 0
    assert write_report(timeline, tmp_path / "report.html").stat().st_size > 0
