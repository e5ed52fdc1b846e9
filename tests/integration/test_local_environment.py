"""``LocalPipeline.drain`` without arguments runs the event source a deployment gets; arguments given still win."""

from __future__ import annotations

import os

import pytest

import contract
from local.emulator import EmulatorConfig
from local.environment import LocalPipeline, deployment_event_source
from tests.integration.ingest_helpers import LIFECYCLE, item, publish, stored_records

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("restored_environment")]

ITEMS = 25


def test_drain_without_arguments_runs_the_deployments_event_source() -> None:
    deployed = deployment_event_source(fifo=False)
    with LocalPipeline(kinds=("item",), emulator_config=EmulatorConfig(**LIFECYCLE)) as pipeline:
        stream = [item(index) for index in range(ITEMS)]
        publish(pipeline, stream)

        summary = pipeline.drain()

        # (the environment the last handler was cold-started with, as the stack sets it from the same settings)
        batch_size, max_concurrency = os.environ.get(contract.BATCH_SIZE), os.environ.get(contract.MAX_CONCURRENCY)
        depth = pipeline.queue_depth()
        stored = stored_records(pipeline)

    assert (batch_size, max_concurrency) == (str(deployed.batch_size), str(deployed.max_concurrency))
    assert summary.stopped_reason == "drained"
    assert 1 <= summary.peak_concurrency <= deployed.max_concurrency
    assert depth == 0
    assert set(stored) == {("item", entry.record_id) for entry in stream}


def test_drain_arguments_given_replace_the_deployments() -> None:
    with LocalPipeline(kinds=("item",), emulator_config=EmulatorConfig(**LIFECYCLE)) as pipeline:
        publish(pipeline, [item(index) for index in range(ITEMS)])

        summary = pipeline.drain(max_concurrency=1, batch_size=10, batching_window_s=0, function_timeout_s=4.5)

        batch_size, max_concurrency = os.environ.get(contract.BATCH_SIZE), os.environ.get(contract.MAX_CONCURRENCY)
        depth = pipeline.queue_depth()

    assert (batch_size, max_concurrency) == ("10", "1")
    assert summary.peak_concurrency == 1
    # 25 messages in batches of at most 10
    assert summary.invocations >= 3
    assert (summary.messages_deleted, depth) == (ITEMS, 0)


def test_drain_a_fifo_queue_without_arguments_runs_lambdas_fifo_batches() -> None:
    with LocalPipeline(kinds=("item",), emulator_config=EmulatorConfig(**LIFECYCLE), fifo=True) as pipeline:
        for index in range(ITEMS):
            # a group per item, as the publisher groups upserts by kind and id
            body = item(index).body
            pipeline.sqs.send_message(
                QueueUrl=pipeline.queues.url,
                MessageBody=body,
                MessageGroupId=f"item#{index}",
                MessageDeduplicationId=str(index),
            )

        # a FIFO queue refuses the standard queue's batch of 250 and its window (the runner, as Lambda, would raise)
        summary = pipeline.drain()
        batch_size, depth = os.environ.get(contract.BATCH_SIZE), pipeline.queue_depth()

    assert batch_size == str(deployment_event_source(fifo=True).batch_size)
    assert (summary.messages_deleted, depth) == (ITEMS, 0)
