"""The scheduled check (every minute): start a spill when the backlog is deep, and guard the event source mapping.

- **Never twice at once.** A spill starts only when ListExecutions finds none RUNNING, and under the name of the
  current window (``spill.estimate.execution_name``): Step Functions refuses a second execution of one name for 90
  days (StartExecution answers ``ExecutionAlreadyExists``,
  https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html), so two checks racing
  in one window (EventBridge delivers at least once) start one execution.
- **The guard.** With no execution running, the mapping must be enabled: a workflow that ended without its resume
  step (the execution timed out, or was stopped by hand) left it paused. The check enables it again and publishes
  ``MappingRestored``, which alarms.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from contract import SpillMetric
from spill import estimate, mapping
from spill.config import SpillConfig
from spill.metrics import Emit, publish


def check(
    config: SpillConfig,
    *,
    sqs: Any,
    stepfunctions: Any,
    lambda_client: Any,
    clock: Callable[[], float] = time.time,
    emit: Emit = print,
) -> dict[str, Any]:
    """Run one check; return what it found and did (``action``: running, restored, started, already, none)."""
    running = stepfunctions.list_executions(
        stateMachineArn=config.state_machine_arn, statusFilter="RUNNING", maxResults=1
    ).get("executions", [])
    if running:
        return {"action": "running", "execution": running[0].get("name")}
    if mapping.state(lambda_client, config.mapping_uuid) in mapping.PAUSED_STATES:
        mapping.resume(lambda_client, config.mapping_uuid)
        publish(SpillMetric.MAPPING_RESTORED, 1, emit=emit)
        return {"action": "restored"}
    attributes = sqs.get_queue_attributes(QueueUrl=config.queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    depth = int(attributes["Attributes"].get("ApproximateNumberOfMessages", "0"))
    ceiling = estimate.put_ceiling(config.put_quotas)
    found = {"depth": depth, "drainSeconds": round(estimate.drain_seconds(depth, ceiling=ceiling), 1)}
    if not estimate.should_spill(depth, config.spill_after_seconds, ceiling=ceiling):
        return {"action": "none", **found}
    name = estimate.execution_name(clock(), config.spill_after_seconds)
    try:
        stepfunctions.start_execution(
            stateMachineArn=config.state_machine_arn, name=name, input=json.dumps({"spillId": name})
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
        return {"action": "already", "execution": name, **found}
    publish(SpillMetric.SPILLS_STARTED, 1, emit=emit)
    return {"action": "started", "execution": name, **found}
