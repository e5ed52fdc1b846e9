"""What a redrive or replay did: the report both return, and how a run that did not reach everything says so."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from tools.dlq.copier import CopyOutcome
from tools.dlq.errors import EXIT_FAILED, EXIT_OK, EXIT_UNFINISHED
from tools.dlq.messages import DeadLetterMessage

DEFAULT_SAMPLES: Final = 5
# A move task's statuses. One is over when COMPLETED, CANCELLED or FAILED; the last two are failures.
MOVE_TASK_DONE: Final = frozenset({"COMPLETED", "CANCELLED", "FAILED"})
MOVE_TASK_FAILED: Final = frozenset({"CANCELLED", "FAILED"})
# A task SQS accepted and nobody waited for (RUNNING), or one that finished (COMPLETED), was handled; any other
# status (UNKNOWN: ListMessageMoveTasks no longer lists it) leaves its outcome open. An allow-list, so a status
# this tool does not know never passes for success.
MOVE_TASK_HANDLED: Final = frozenset({"RUNNING", "COMPLETED"})


def unfinished_reasons(
    *, stopped: str | None, partial: bool, released_failures: int, unseen: str | None = None
) -> list[str]:
    """What a pass over the DLQ left undone, for :attr:`MoveReport.unfinished` and the inspect report's.

    Parameters
    ----------
    stopped, partial
        Why the pass ended early, and whether the queue (not ``--limit``) ended it.
    released_failures
        Held messages that could not be made visible again.
    unseen
        Why some messages were out of sight from the start (:func:`tools.dlq.scan.unseen_reason`).
    """
    reasons = []
    if unseen:
        reasons.append(f"the pass did not see every message: {unseen}")
    if partial and stopped:
        reasons.append(f"the pass did not reach every message: {stopped}")
    if released_failures:
        reasons.append(
            f"{released_failures} message(s) could not be made visible again: they stay hidden until --hold-seconds "
            "end, and a run before then does not see them"
        )
    return reasons


@dataclass(slots=True)
class MoveReport:
    """What a redrive or replay did, or would do on a dry run."""

    dlq_url: str
    queue_url: str
    dry_run: bool
    method: str
    selected: Counter[str] = field(default_factory=Counter)
    kept: Counter[str] = field(default_factory=Counter)
    outcome: CopyOutcome = field(default_factory=CopyOutcome)
    still_failing: list[dict[str, Any]] = field(default_factory=list)
    task: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    stopped: str | None = None
    # The queue, not --limit, ended a pass (see DeadLetterScan.partial): messages it did not reach may be left.
    partial: bool = False
    released_failures: int = 0
    # Messages out of the pass's sight from its start (in flight, delayed): see tools.dlq.scan.unseen_reason.
    unseen: str | None = None

    @property
    def has_failures(self) -> bool:
        """Whether something failed: a copy SQS refused, a delete after a copy, a move task FAILED or CANCELLED."""
        if self.task is not None and self.task.get("Status") in MOVE_TASK_FAILED:
            return True
        return bool(self.outcome.failed or self.outcome.undeleted)

    @property
    def unfinished(self) -> list[str]:
        """Why this run may not have handled everything it would select, although nothing failed; empty when it did.

        The pass could not see every message (some in flight or delayed when it began), it stopped before the end
        of the queue (a FIFO group it could not reach, messages that became visible again because the hold
        expired, the in-flight limit), messages it held could not be made visible again (a run before their hold
        ends does not see them), or a move task's outcome is unknown. ``--limit`` is not among them: stopping there
        is what was asked.
        """
        reasons = unfinished_reasons(
            stopped=self.stopped, partial=self.partial, released_failures=self.released_failures, unseen=self.unseen
        )
        if self.task is not None and self.task.get("Status") not in MOVE_TASK_HANDLED | MOVE_TASK_FAILED:
            reasons.append(
                f"the message move task's outcome is unknown (status {self.task.get('Status')}: ListMessageMoveTasks "
                "lists only the ten most recent tasks, and no longer lists it); check it with `aws sqs "
                f"list-message-move-tasks --source-arn {self.task.get('SourceArn')}`, and what is left with `inspect`"
            )
        return reasons

    @property
    def ok(self) -> bool:
        """Whether everything selected was handled (or, on a dry run, looked at): no failure, nothing unfinished."""
        return not self.has_failures and not self.unfinished

    @property
    def exit_status(self) -> int:
        """:data:`~tools.dlq.errors.EXIT_FAILED` when something failed (it needs a look first), else
        :data:`~tools.dlq.errors.EXIT_UNFINISHED` when the run did not reach everything (run it again), else
        :data:`~tools.dlq.errors.EXIT_OK`."""
        if self.has_failures:
            return EXIT_FAILED
        return EXIT_UNFINISHED if self.unfinished else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "dlqUrl": self.dlq_url,
            "queueUrl": self.queue_url,
            "dryRun": self.dry_run,
            "method": self.method,
            "selected": dict(self.selected),
            "kept": dict(self.kept),
            "moved": len(self.outcome.moved),
            "failed": [failure(message, reason) for message, reason in self.outcome.failed],
            "copiedNotDeleted": [failure(message, reason) for message, reason in self.outcome.undeleted],
            "stillFailing": self.still_failing,
            "task": self.task,
            "notes": self.notes,
            "stopped": self.stopped,
            "notReleased": self.released_failures,
            "unfinished": self.unfinished,
        }


def failure(message: DeadLetterMessage, reason: str) -> dict[str, Any]:
    """A message that did not move, as JSON-ready data: ids and codes, never its body."""
    return {"messageId": message.message_id, "code": message.code, "reason": reason}


def iso(moment: datetime | None) -> str | None:
    """``moment`` as an ISO 8601 UTC time to the second (``2026-11-22T10:00:00Z``); None for None."""
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z") if moment else None
