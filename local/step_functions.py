"""Step Functions' side of the spill workflow, on one machine: states in, task invocations out.

:class:`SpillWorkflowDriver` interprets ``spill.workflow.STATES`` (the table the CDK definition in
``stacks/spill_workflow.py`` is built from, and which a test compares with the synthesized definition) the way
Step Functions runs it: a Task invokes the step with ``{"step": ..., "state": ...}`` and its answer becomes the
state; a Task that raises is retried ``RETRY_ATTEMPTS`` times and then caught into ``ResumeAfterFailure`` with the
error under ``error``; a Choice tests its boolean fields in order; a Wait sleeps (scaled by ``wait_scale``, so
tests need not wait a minute); Succeed and Fail end the execution. ``local/cloudformation.py`` drives the custom
resources the same way.

:func:`local_step` builds the task function over the real step code (``spill.handler.run_step``) with the local
stand-ins' clients: moto's SQS and S3, the Personalize emulator, and a
:class:`~local.event_source_mapping.LocalEventSourceMapping` as the Lambda client.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from spill import workflow
from spill.handler import SpillDeps, run_step

Task = Callable[[str, dict[str, Any]], dict[str, Any]]
SUCCEEDED: Final = "SUCCEEDED"
FAILED: Final = "FAILED"


@dataclass
class Execution:
    """An execution's end: its status, its last state, every state entered (in order) and the errors caught."""

    status: str
    output: dict[str, Any]
    visited: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class SpillWorkflowDriver:
    """Runs executions of the spill workflow over ``task`` (see the module's docstring).

    Parameters
    ----------
    task
        ``(step, state) -> state``: one Lambda invocation of ``spill.handler.step``.
    wait_scale
        Seconds slept per second of a Wait state (0: none).
    observe
        Called with each state's name and input as it is entered (the bench's progress lines).
    max_transitions
        A guard against a loop that never ends (Step Functions' own limit is the execution timeout).
    """

    task: Task
    wait_scale: float = 0.0
    retry_attempts: int = workflow.RETRY_ATTEMPTS
    max_transitions: int = 100_000
    sleep: Callable[[float], None] = time.sleep
    observe: Callable[[str, dict[str, Any]], None] | None = None

    def run(self, execution_input: dict[str, Any]) -> Execution:
        """Run one execution to its end."""
        state = dict(execution_input)
        execution = Execution(status="RUNNING", output=state)
        name: str | None = workflow.START
        for _ in range(self.max_transitions):
            if name is None:
                break
            execution.visited.append(name)
            if self.observe is not None:
                self.observe(name, state)
            spec = workflow.STATES[name]
            if spec.type == "Succeed":
                execution.status = SUCCEEDED
                break
            if spec.type == "Fail":
                execution.status = FAILED
                break
            if spec.type == "Wait":
                self.sleep(spec.seconds * self.wait_scale)
                name = spec.next
            elif spec.type == "Choice":
                name = next((target for flag, target in spec.when if state.get(flag) is True), spec.next)
            else:
                state, name = self._task(name, spec, state, execution)
            execution.output = state
        else:
            raise RuntimeError(f"the execution did not end within {self.max_transitions} transitions")
        return execution

    def _task(
        self, name: str, spec: workflow.State, state: dict[str, Any], execution: Execution
    ) -> tuple[dict[str, Any], str | None]:
        assert spec.step is not None
        error: Exception | None = None
        for _attempt in range(1 + self.retry_attempts):
            try:
                return self.task(spec.step, state), spec.next
            except Exception as raised:  # a failed invocation: retried, then caught
                error = raised
                execution.errors.append(f"{name}: {type(raised).__name__}: {raised}")
        if not spec.catch:
            raise RuntimeError(f"{name} failed without a catch") from error
        caught = {**state, "error": {"Error": type(error).__name__, "Cause": str(error)}}
        return caught, workflow.RESUME_AFTER_FAILURE


def local_step(make_deps: Callable[[], SpillDeps]) -> Task:
    """The task function over the real step code: a fresh ``SpillDeps`` per invocation, as a Lambda cold start."""

    def invoke(step: str, state: dict[str, Any]) -> dict[str, Any]:
        return run_step(step, state, make_deps())

    return invoke
