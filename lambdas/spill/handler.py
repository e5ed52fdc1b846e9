"""The spill's Lambda entry points: :func:`step` (every task of the workflow) and :func:`trigger` (the scheduled
check). :func:`run_step` is the step logic with its clients given, which ``local/step_functions.py`` drives.

Each step is safe to run again after a crash or a timeout, which is what the workflow's retries do:

- ``pause``: disable the mapping (again), then take the cut: a later cut after a retry only drains more, since
  nothing was sent through Put meanwhile;
- ``quiet``: a read;
- ``drain``: settles chunk by chunk, deleting only what its parts, index and dead letters hold;
- ``compact``: deterministic, and skipped once its marker exists;
- ``import``: finds jobs by name before creating one;
- ``resume`` and ``resume_after_failure``: enable the mapping (idempotent).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
from botocore.config import Config

from bulk.targets import Target, describe_target
from contract import KIND_SPECS, SpillMetric
from ingest.catalog import DatasetCatalog
from ingest.dead_letter import DeadLetterQueue, DeadLetterWriter
from spill import mapping, trigger
from spill.compact import compact
from spill.config import SpillConfig
from spill.drain import Drainer, DrainSettings
from spill.imports import advance
from spill.metrics import Emit, publish

CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


@dataclass
class SpillDeps:
    """The clients and settings the steps use. ``drain`` holds the drain's settings other than its cut."""

    config: SpillConfig
    sqs: Any
    s3: Any
    personalize: Any
    lambda_client: Any
    dead_letters: DeadLetterWriter
    time_left: Callable[[], float]
    clock: Callable[[], float] = time.time
    emit: Emit = print
    drain: DrainSettings = field(default_factory=lambda: DrainSettings(cut_ms=0))


def run_step(step_name: str, state: dict[str, Any], deps: SpillDeps) -> dict[str, Any]:
    """Run one step of the workflow on the execution's state; return the new state."""
    steps: dict[str, Callable[[dict[str, Any], SpillDeps], dict[str, Any]]] = {
        "pause": _pause,
        "quiet": _quiet,
        "drain": _drain,
        "compact": _compact,
        "import": _import,
        "resume": _resume,
        "resume_after_failure": _resume_after_failure,
    }
    return steps[step_name](dict(state), deps)


def _pause(state: dict[str, Any], deps: SpillDeps) -> dict[str, Any]:
    mapping.pause(deps.lambda_client, deps.config.mapping_uuid)
    now = deps.clock()
    return {
        **state,
        "cutMs": int(now * 1000),
        "pausedAt": now,
        "quiet": False,
        "more": True,
        "done": False,
        "failed": False,
        "drained": {},
    }


def _quiet(state: dict[str, Any], deps: SpillDeps) -> dict[str, Any]:
    state["quiet"] = mapping.quiet(
        deps.lambda_client,
        deps.config.mapping_uuid,
        paused_at=float(state["pausedAt"]),
        quiet_seconds=deps.config.quiet_seconds,
        now=deps.clock(),
    )
    return state


def _targets(deps: SpillDeps) -> dict[str, Target]:
    catalog = DatasetCatalog(client=deps.personalize)
    return {kind: describe_target(deps.personalize, catalog, kind, arn) for kind, arn in deps.config.datasets.items()}


def _drain(state: dict[str, Any], deps: SpillDeps) -> dict[str, Any]:
    config = deps.config
    queue_arn = deps.sqs.get_queue_attributes(QueueUrl=config.queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    drainer = Drainer(
        sqs=deps.sqs,
        s3=deps.s3,
        dead_letters=deps.dead_letters,
        queue_url=config.queue_url,
        queue_arn=queue_arn,
        bucket=config.bucket,
        spill_id=state["spillId"],
        targets=_targets(deps),
        settings=replace(deps.drain, cut_ms=int(state["cutMs"])),
        time_left=deps.time_left,
        clock=deps.clock,
    )
    state["more"] = drainer.run()
    totals = dict(state.get("drained") or {})
    for name, value in drainer.tally.to_dict().items():
        totals[name] = totals.get(name, 0) + value
    state["drained"] = totals
    return state


def _compact(state: dict[str, Any], deps: SpillDeps) -> dict[str, Any]:
    compacted = compact(deps.s3, deps.config.bucket, state["spillId"], _targets(deps))
    state["compacted"] = compacted
    publish(SpillMetric.RECORDS_SPILLED, sum(int(d["rows"]) for d in compacted.values()), emit=deps.emit)
    return state


def _import(state: dict[str, Any], deps: SpillDeps) -> dict[str, Any]:
    config = deps.config
    result = advance(
        deps.personalize,
        spill_id=state["spillId"],
        bucket=config.bucket,
        role_arn=config.role_arn,
        datasets={KIND_SPECS[kind].dataset_type: arn for kind, arn in config.datasets.items()},
        compacted=state.get("compacted") or {},
    )
    state.update(done=result["done"], failed=bool(result["failed"]), jobs=result["jobs"])
    if result["failed"]:
        state["error"] = {"Error": "ImportJobFailed", "Cause": ", ".join(result["failed"])}
    if result["done"]:
        for job in result["jobs"]:
            if "seconds" in job:
                publish(SpillMetric.IMPORT_JOB_SECONDS, float(job["seconds"]), "Seconds", emit=deps.emit)
    return state


def _resume(state: dict[str, Any], deps: SpillDeps) -> dict[str, Any]:
    state["mappingState"] = mapping.resume(deps.lambda_client, deps.config.mapping_uuid)
    publish(SpillMetric.SPILLS_FINISHED, 1, emit=deps.emit)
    return state


def _resume_after_failure(state: dict[str, Any], deps: SpillDeps) -> dict[str, Any]:
    state["mappingState"] = mapping.resume(deps.lambda_client, deps.config.mapping_uuid)
    publish(SpillMetric.SPILLS_FAILED, 1, emit=deps.emit)
    return state


# --- Lambda entry points ---------------------------------------------------------------------------------------


def _client(service: str) -> Any:
    return boto3.client(service, config=CLIENT_CONFIG)  # type: ignore[call-overload]


def step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A task of the workflow: ``{"step": ..., "state": {...}}`` → the new state."""
    config = SpillConfig.from_environment(os.environ)
    sqs = _client("sqs")
    deps = SpillDeps(
        config=config,
        sqs=sqs,
        s3=_client("s3"),
        personalize=_client("personalize"),
        lambda_client=_client("lambda"),
        dead_letters=DeadLetterQueue(client=sqs, queue_url=config.dead_letter_queue_url),
        time_left=lambda: float(context.get_remaining_time_in_millis()) / 1000,
    )
    return run_step(str(event["step"]), dict(event["state"]), deps)


def check(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The scheduled check (``spill.trigger``)."""
    return trigger.check(
        SpillConfig.from_environment(os.environ),
        sqs=_client("sqs"),
        stepfunctions=_client("stepfunctions"),
        lambda_client=_client("lambda"),
    )
