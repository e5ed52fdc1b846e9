"""The spill workflow's states, as data: the Step Functions definition (stacks/spill_workflow.py) is built from the
same names, and the local driver (local/step_functions.py) interprets this table; a test checks that the
synthesized definition has exactly these states, kinds and transitions.

Every task invokes :func:`spill.handler.step` with ``{"step": <step>, "state": <the execution's state>}`` and
its answer becomes the state. A task that fails (after its retries) goes to ``ResumeAfterFailure``, so the mapping
is never left paused by a failed workflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

StateType = Literal["Task", "Choice", "Wait", "Succeed", "Fail"]

PAUSE: Final = "Pause"
CHECK_QUIET: Final = "CheckQuiet"
IS_QUIET: Final = "IsQuiet"
WAIT_QUIET: Final = "WaitQuiet"
DRAIN: Final = "Drain"
IS_DRAINED: Final = "IsDrained"
COMPACT: Final = "Compact"
IMPORT: Final = "Import"
ARE_IMPORTED: Final = "AreImported"
WAIT_IMPORTS: Final = "WaitImports"
RESUME: Final = "Resume"
DONE: Final = "Done"
RESUME_AFTER_FAILURE: Final = "ResumeAfterFailure"
FAILED: Final = "Failed"

# Seconds between the checks of a waiting loop.
QUIET_POLL_SECONDS: Final = 10
IMPORT_POLL_SECONDS: Final = 60


@dataclass(frozen=True, slots=True)
class State:
    """One state: its type, the handler step a task runs, where it goes next, and a Choice's branches.

    ``when`` maps a boolean field of the state (``quiet``, ``more``, ``failed``, ``done``) to the state to go to
    when it is true, tested in order; ``next`` is a Choice's default.
    """

    type: StateType
    step: str | None = None
    next: str | None = None
    when: tuple[tuple[str, str], ...] = ()
    seconds: int = 0
    catch: bool = False


STATES: Final[Mapping[str, State]] = MappingProxyType(
    {
        PAUSE: State("Task", step="pause", next=CHECK_QUIET, catch=True),
        CHECK_QUIET: State("Task", step="quiet", next=IS_QUIET, catch=True),
        IS_QUIET: State("Choice", when=(("quiet", DRAIN),), next=WAIT_QUIET),
        WAIT_QUIET: State("Wait", next=CHECK_QUIET, seconds=QUIET_POLL_SECONDS),
        DRAIN: State("Task", step="drain", next=IS_DRAINED, catch=True),
        IS_DRAINED: State("Choice", when=(("more", DRAIN),), next=COMPACT),
        COMPACT: State("Task", step="compact", next=IMPORT, catch=True),
        IMPORT: State("Task", step="import", next=ARE_IMPORTED, catch=True),
        ARE_IMPORTED: State("Choice", when=(("failed", RESUME_AFTER_FAILURE), ("done", RESUME)), next=WAIT_IMPORTS),
        WAIT_IMPORTS: State("Wait", next=IMPORT, seconds=IMPORT_POLL_SECONDS),
        RESUME: State("Task", step="resume", next=DONE),
        DONE: State("Succeed"),
        RESUME_AFTER_FAILURE: State("Task", step="resume_after_failure", next=FAILED),
        FAILED: State("Fail"),
    }
)
START: Final = PAUSE
# Task retries: Lambda's transient errors and a step that raised (each step is safe to run again).
RETRY_ATTEMPTS: Final = 2
RETRY_INTERVAL_SECONDS: Final = 5
# The whole execution's limit: past it the execution times out without its catch, and the scheduled check's guard
# resumes the mapping (spill.trigger).
TIMEOUT_SECONDS: Final = 12 * 3600
