"""``redrive``: move dead letters back to the ingest queue, all of them or those of some error codes."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING

from tools.dlq.copier import DEFAULT_MAX_PER_SECOND, RateLimiter
from tools.dlq.errors import DlqToolError, check_distinct_queues
from tools.dlq.messages import DeadLetterMessage
from tools.dlq.move_task import Progress, move_task_allowed, start_move_task, wait_for_task
from tools.dlq.passes import copy_pass
from tools.dlq.report import MoveReport
from tools.dlq.scan import DEFAULT_HOLD_SECONDS, DEFAULT_WAIT_SECONDS
from tools.dlq.sqs import approximate_counts

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

MOVE_TASK_MOVES_ALL = "--method move-task moves every message: it cannot be combined with --codes or --limit"


class Method(StrEnum):
    """How redrive moves messages."""

    AUTO = "auto"  # a move task when everything goes, every message names its original and SQS can start one
    MOVE_TASK = "move-task"  # StartMessageMoveTask: SQS moves them itself, server side
    COPY = "copy"  # receive, send a copy, delete the original: this tool moves them


def redrive(
    *,
    sqs: SQSClient,
    dlq_url: str,
    queue_url: str,
    codes: frozenset[str] | None = None,
    method: Method = Method.AUTO,
    dry_run: bool = False,
    max_per_second: float | None = DEFAULT_MAX_PER_SECOND,
    limit: int | None = None,
    wait: bool = False,
    hold_seconds: int = DEFAULT_HOLD_SECONDS,
    wait_seconds: int = DEFAULT_WAIT_SECONDS,
    limiter: RateLimiter | None = None,
    poll: Callable[[float], None] = time.sleep,
    progress: Progress = lambda _task: None,
) -> MoveReport:
    """Move DLQ messages back to the ingest queue, all of them or those of ``codes``.

    Without a code filter or limit (``Method.AUTO``), SQS's own StartMessageMoveTask moves them, server side, at
    ``max_per_second`` (at most 500), provided every message in the DLQ carries
    ``PersonalizeIngest.SourceMessageId`` (:mod:`tools.dlq.move_task` says why): auto mode reads the DLQ first, and
    copies when it finds a message without one, or cannot see every message. A message the redrive policy moves into
    the DLQ after that read is moved by the task unchecked; ``Method.COPY`` rules that out.

    When SQS cannot start a move task (an emulator without it, a missing permission, a DLQ that is no queue's
    redrive target), and always with a filter or a limit, the tool moves them itself: receive, send a copy
    (setting PersonalizeIngest.SourceMessageId), delete after the copy is confirmed. Messages not selected are
    held during the pass (so it ends) and made visible again at the end.

    Parameters
    ----------
    sqs
        An SQS client.
    dlq_url, queue_url
        From where, to where.
    codes
        Move only messages with these ErrorCodes (:data:`~tools.dlq.messages.REDRIVE_POLICY` for those without
        one); all when None.
    method
        See :class:`Method`. ``Method.MOVE_TASK`` starts a move task without reading the DLQ first.
    dry_run
        Read and report what would move, and how; send and delete nothing.
    max_per_second
        Average messages per second; None or 0 for no limit.
    limit
        Move at most this many messages.
    wait
        After starting a move task, poll until it is done.
    hold_seconds, wait_seconds
        See :class:`~tools.dlq.scan.DeadLetterScan`.
    limiter, poll
        Pacing and sleeping, replaceable in tests.
    progress
        Called with the move task's state each time ``wait`` polls it.

    Raises
    ------
    DlqToolError
        The queues are the same, or ``Method.MOVE_TASK`` was asked for with ``codes`` or ``limit``, or asked for
        and refused by SQS, or a move task is already running on the DLQ.
    """
    check_distinct_queues(dlq_url, queue_url)
    if method is Method.MOVE_TASK and (codes is not None or limit is not None):
        raise DlqToolError(MOVE_TASK_MOVES_ALL)
    report = MoveReport(dlq_url=dlq_url, queue_url=queue_url, dry_run=dry_run, method=str(Method.COPY))
    wants_task = method is Method.MOVE_TASK or (method is Method.AUTO and codes is None and limit is None)
    # Auto mode counts what is in flight before its check holds anything: the check and the copy pass both use it.
    counts = approximate_counts(sqs, dlq_url) if wants_task and method is Method.AUTO else None
    if wants_task and _moved_by_task(
        sqs,
        report,
        counts=counts,
        max_per_second=max_per_second,
        wait=wait,
        hold_seconds=hold_seconds,
        wait_seconds=wait_seconds,
        poll=poll,
        progress=progress,
    ):
        return report

    def selected(message: DeadLetterMessage) -> bool:
        return codes is None or message.code in codes

    copy_pass(
        sqs=sqs,
        report=report,
        choose=selected,
        limit=limit,
        limiter=limiter or RateLimiter(max_per_second or None),
        hold_seconds=hold_seconds,
        wait_seconds=wait_seconds,
        counts=counts,
    )
    return report


def _moved_by_task(
    sqs: SQSClient,
    report: MoveReport,
    *,
    counts: Mapping[str, int] | None,
    max_per_second: float | None,
    wait: bool,
    hold_seconds: int,
    wait_seconds: int,
    poll: Callable[[float], None],
    progress: Progress,
) -> bool:
    """Try the move task; whether it took over (the report then holds the task), or the copy pass must run.

    ``counts``: the DLQ's counts for the hazard check (``Method.AUTO``). None: ``Method.MOVE_TASK``, asked for
    explicitly: no hazard check first, and a refusal is an error.
    """
    required = counts is None
    allowed = move_task_allowed(sqs, report, counts=counts, hold_seconds=hold_seconds, wait_seconds=wait_seconds)
    if not allowed or report.dry_run:
        return False
    task = start_move_task(sqs, report, max_per_second=max_per_second, required=required)
    if task is None:
        return False
    report.method = str(Method.MOVE_TASK)
    report.task = task
    if wait:
        report.task = wait_for_task(sqs, task["SourceArn"], task["TaskHandle"], poll, progress)
    return True
