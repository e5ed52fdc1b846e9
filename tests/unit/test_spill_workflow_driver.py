"""The local Step Functions driver (local/step_functions.py) over the workflow's table (spill.workflow)."""

from __future__ import annotations

from typing import Any

import pytest

from local.step_functions import FAILED, SUCCEEDED, SpillWorkflowDriver
from spill import workflow


class Steps:
    """A fake task: answers every step, failing ``fail`` ``times`` times, draining in ``drains`` rounds."""

    def __init__(self, *, fail: str | None = None, times: int = 0, drains: int = 2, imports: int = 2) -> None:
        self.calls: list[str] = []
        self.fail, self.times, self.drains, self.imports = fail, times, drains, imports

    def __call__(self, step: str, state: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(step)
        if step == self.fail and self.times:
            self.times -= 1
            raise RuntimeError(f"{step} died")
        state = dict(state)
        if step == "pause":
            state.update(quiet=False, more=True, done=False, failed=False)
        elif step == "quiet":
            state["quiet"] = self.calls.count("quiet") >= 2
        elif step == "drain":
            state["more"] = self.calls.count("drain") < self.drains
        elif step == "import":
            state["done"] = self.calls.count("import") >= self.imports
        return state


def test_a_spill_runs_every_step_in_order() -> None:
    steps = Steps()
    execution = SpillWorkflowDriver(steps).run({"spillId": "s"})
    assert execution.status == SUCCEEDED
    assert steps.calls == ["pause", "quiet", "quiet", "drain", "drain", "compact", "import", "import", "resume"]
    assert execution.visited[:5] == [
        workflow.PAUSE,
        workflow.CHECK_QUIET,
        workflow.IS_QUIET,
        workflow.WAIT_QUIET,
        workflow.CHECK_QUIET,
    ]
    assert execution.visited[-2:] == [workflow.RESUME, workflow.DONE]


def test_a_step_that_fails_once_is_retried() -> None:
    steps = Steps(fail="drain", times=1)
    execution = SpillWorkflowDriver(steps).run({"spillId": "s"})
    assert execution.status == SUCCEEDED
    assert execution.errors == ["Drain: RuntimeError: drain died"]


@pytest.mark.parametrize("step", ["pause", "quiet", "drain", "compact", "import"])
def test_a_step_that_keeps_failing_resumes_the_mapping_then_fails(step: str) -> None:
    steps = Steps(fail=step, times=99)
    execution = SpillWorkflowDriver(steps).run({"spillId": "s"})
    assert execution.status == FAILED
    assert steps.calls[-1] == "resume_after_failure"
    assert steps.calls.count(step) == 1 + workflow.RETRY_ATTEMPTS
    assert execution.output["error"]["Error"] == "RuntimeError"


def test_a_failed_import_resumes_then_fails() -> None:
    steps = Steps()

    def task(step: str, state: dict[str, Any]) -> dict[str, Any]:
        return {**steps(step, state), **({"failed": True} if step == "import" else {})}

    execution = SpillWorkflowDriver(task).run({"spillId": "s"})
    assert execution.visited[-3:] == [workflow.ARE_IMPORTED, workflow.RESUME_AFTER_FAILURE, workflow.FAILED]


def test_waits_are_scaled() -> None:
    slept: list[float] = []
    SpillWorkflowDriver(Steps(), wait_scale=0.5, sleep=slept.append).run({"spillId": "s"})
    assert slept == [workflow.QUIET_POLL_SECONDS * 0.5, workflow.IMPORT_POLL_SECONDS * 0.5]
