"""The event source ``LocalPipeline.drain`` runs when not told otherwise is the one a deployment gets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.environment import EventSourceSettings, deployment_event_source
from stacks.config import PipelineConfig

CDK_JSON = Path(__file__).resolve().parents[2] / "cdk.json"
EVENT_SOURCE_KEYS = ("batchSize", "maxBatchingWindowSeconds", "maxConcurrency", "functionTimeoutSeconds")


def deployed(**overrides: object) -> EventSourceSettings:
    """What the stack deploys for cdk.json's context with ``overrides`` (``None`` removes a key, as ``-c`` cannot)."""
    context = {**json.loads(CDK_JSON.read_text())["context"], **overrides}
    config = PipelineConfig.from_context({key: value for key, value in context.items() if value is not None})
    return EventSourceSettings(
        batch_size=config.batch_size,
        batching_window_s=config.max_batching_window_seconds,
        max_concurrency=config.max_concurrency,
        function_timeout_s=config.function_timeout_seconds,
    )


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({}, id="cdk.json"),
        pytest.param(dict.fromkeys(EVENT_SOURCE_KEYS), id="keys-left-out"),
    ],
)
def test_a_standard_queue_drains_as_the_stack_deploys_it(overrides: dict[str, object]) -> None:
    assert deployment_event_source(fifo=False) == deployed(**overrides)
    # a batch above 10 needs a window (Lambda refuses the mapping otherwise), which the deployment has
    assert deployment_event_source(fifo=False).batch_size > 10
    assert deployment_event_source(fifo=False).batching_window_s >= 1


def test_a_fifo_queue_drains_with_lambdas_fifo_batch_and_no_window_as_the_stack_deploys_it() -> None:
    fifo = deployed(queueType="fifo", batchSize=None, maxBatchingWindowSeconds=None)
    assert deployment_event_source(fifo=True) == fifo
    assert (fifo.batch_size, fifo.batching_window_s) == (10, 0)
