"""SQS's message move task for redrive: whether it is safe, starting it, and waiting for it.

A move task gives every message a new message id
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue-redrive.html).
A message without ``PersonalizeIngest.SourceMessageId`` (one the ingest queue's redrive policy moved, or a letter
written before the pipeline used that name) would then reach the Lambda with nothing it trusts left of its original
id, so an event without eventId would get a new one and count twice if Personalize had taken it before the crash.
So, unless asked for explicitly, a move task runs only after a read of the DLQ found every message carrying it
(:func:`move_task_hazard`); copying sets it. That the attribute itself survives a move task is inferred, not
stated: the same page names a new message id and enqueue time as what a redrive changes, and says SQS does not
support modifying messages while redriving them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from contract import ORIGIN_MESSAGE_ID_ATTRIBUTE
from tools.aws_errors import describe_error
from tools.dlq.errors import DlqToolError
from tools.dlq.messages import REDRIVE_POLICY
from tools.dlq.report import MOVE_TASK_DONE, MoveReport
from tools.dlq.scan import DeadLetterScan
from tools.dlq.sqs import MOVE_TASK_MAX_RATE, queue_arn

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

MOVE_TASK_POLL_SECONDS: Final = 5.0
# ListMessageMoveTasks lists the most recent tasks of a source queue, at most ten.
_LISTED_TASKS: Final = 10

Progress = Callable[[Mapping[str, Any]], None]


def move_task_allowed(
    sqs: SQSClient,
    report: MoveReport,
    *,
    counts: Mapping[str, int] | None,
    hold_seconds: int,
    wait_seconds: int,
) -> bool:
    """Whether redrive may use a move task; notes why not, or (on a dry run) that it would.

    ``counts``: the DLQ's counts (:func:`~tools.dlq.sqs.approximate_counts`) before this run held anything; with
    them, read the DLQ for a hazard first (``Method.AUTO``). None: ``Method.MOVE_TASK`` was asked for and is not
    second-guessed.
    """
    checked = counts is not None
    verb = "would copy" if report.dry_run else "copied"
    if counts is not None:
        hazard, report.released_failures = move_task_hazard(
            sqs, report.dlq_url, in_flight=counts["inFlight"], hold_seconds=hold_seconds, wait_seconds=wait_seconds
        )
        if hazard is not None:
            report.notes.append(
                f"no message move task: {hazard}. A move task gives every message a new message id, from which the "
                "ingest Lambda would derive a new eventId for an event without one, so an event Personalize already "
                f"took would count twice; {verb} the messages instead, each with {ORIGIN_MESSAGE_ID_ATTRIBUTE}"
            )
            return False
    if report.dry_run:
        report.notes.append(
            (f"every message carries {ORIGIN_MESSAGE_ID_ATTRIBUTE}: " if checked else "")
            + "would start an SQS message move task (StartMessageMoveTask)"
            + (", or copy the messages if SQS refuses" if checked else "")
        )
    return True


def move_task_hazard(
    sqs: SQSClient, dlq_url: str, *, in_flight: int, hold_seconds: int, wait_seconds: int
) -> tuple[str | None, int]:
    """Why a move task must not move this DLQ's messages, or None when it may; and the releases that failed.

    It may only when every message carries ``PersonalizeIngest.SourceMessageId``: the Lambda derives a missing
    eventId from it, and a move task replaces the message id that would otherwise stand in for it. A message this
    pass cannot see (in flight with another reader, behind a held one in a FIFO group, past the in-flight limit)
    cannot be vouched for, so anything short of a full pass counts as a hazard too; copying is always safe. The
    pass stops at the first message without it, and releases what it read (visible again at once) before
    returning.
    ``in_flight``: the DLQ's messages in flight before this run held any.
    """
    if in_flight:
        return (
            f"about {in_flight} message(s) of the DLQ are in flight (held by another reader) and cannot be checked",
            0,
        )
    hazard: str | None = None
    with DeadLetterScan(sqs=sqs, queue_url=dlq_url, hold_seconds=hold_seconds, wait_seconds=wait_seconds) as scan:
        for batch in scan:
            unnamed = next((message for message in batch if not message.carries_origin_id), None)
            if unnamed is not None:
                why = (
                    "the ingest queue's redrive policy moved it"
                    if unnamed.code == REDRIVE_POLICY
                    else "the handler wrote it before using that name"
                )
                hazard = f"message {unnamed.message_id} ({unnamed.code}) has no {ORIGIN_MESSAGE_ID_ATTRIBUTE} ({why})"
                break
        else:
            if scan.stopped:
                hazard = f"not every message could be checked for {ORIGIN_MESSAGE_ID_ATTRIBUTE} ({scan.stopped})"
    return hazard, scan.release_failures


def move_task_rate(max_per_second: float) -> tuple[int, str | None]:
    """The whole number of messages per second a move task gets for ``max_per_second`` (> 0), and a note when
    that is not the number asked for.

    Rounded down, not to the nearest: --max-per-second is a ceiling (2.7 must not become 3). Below 1 there is no
    whole number under it that SQS takes (0 would mean "no limit" to this tool), so it becomes 1.
    """
    rate = max(1, min(MOVE_TASK_MAX_RATE, math.floor(max_per_second)))
    if rate == max_per_second:
        return rate, None
    if max_per_second > MOVE_TASK_MAX_RATE:
        how = f"capped at {MOVE_TASK_MAX_RATE}"
    elif max_per_second < 1:
        how = "raised to 1"
    else:
        how = f"rounded down to {rate}"
    return rate, (
        f"move task rate {how} messages/s (--max-per-second {max_per_second:g}; SQS takes whole numbers "
        f"from 1 to {MOVE_TASK_MAX_RATE})"
    )


def start_move_task(
    sqs: SQSClient,
    report: MoveReport,
    *,
    max_per_second: float | None,
    required: bool,
) -> dict[str, Any] | None:
    """Start an SQS message move task from the report's DLQ to its queue; None (with a note) when SQS refuses and
    the copy path may take over.

    Raises
    ------
    DlqToolError
        A move task is already running on the DLQ, or ``required`` and SQS refused.
    """
    source_arn = queue_arn(sqs, report.dlq_url)
    _refuse_if_running(sqs, source_arn)
    request: dict[str, Any] = {"SourceArn": source_arn, "DestinationArn": queue_arn(sqs, report.queue_url)}
    if max_per_second:
        request["MaxNumberOfMessagesPerSecond"], note = move_task_rate(max_per_second)
        if note:
            report.notes.append(note)
    try:
        handle = sqs.start_message_move_task(**request)["TaskHandle"]
    except (ClientError, BotoCoreError) as exc:
        if required:
            raise DlqToolError(f"SQS refused StartMessageMoveTask: {describe_error(exc)}") from None
        report.notes.append(
            f"SQS could not start a message move task ({describe_error(exc)}); copied the messages one by one instead"
        )
        return None
    return {**request, "TaskHandle": handle, "Status": "RUNNING"}


def _refuse_if_running(sqs: SQSClient, source_arn: str) -> None:
    try:
        tasks = sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=_LISTED_TASKS).get("Results", [])
    except (ClientError, BotoCoreError):
        return  # no way to tell; StartMessageMoveTask itself refuses a second task
    running = [task for task in tasks if task.get("Status") == "RUNNING"]
    if running:
        raise DlqToolError(
            f"a message move task is already running on this DLQ (TaskHandle {running[0].get('TaskHandle')}): "
            "wait for it, or cancel it with `aws sqs cancel-message-move-task`"
        )


def wait_for_task(
    sqs: SQSClient,
    source_arn: str,
    handle: str,
    poll: Callable[[float], None],
    progress: Progress,
) -> dict[str, Any]:
    """Poll the move task until it is over, or no longer listed (status ``UNKNOWN``); its last state."""
    while True:
        tasks = sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=_LISTED_TASKS).get("Results", [])
        # ListMessageMoveTasks lists the most recent tasks (up to 10); ours drops out only if others started since.
        unknown: dict[str, Any] = {"TaskHandle": handle, "SourceArn": source_arn, "Status": "UNKNOWN"}
        task: dict[str, Any] = next((dict(t) for t in tasks if t.get("TaskHandle") == handle), unknown)
        progress(task)
        if task.get("Status") in MOVE_TASK_DONE or task.get("Status") == "UNKNOWN":
            return task
        poll(MOVE_TASK_POLL_SECONDS)
