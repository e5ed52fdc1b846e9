"""The reports as text for a person: counts and ids, what to do next, and never a property value."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final

from tools.dlq.errors import EXIT_UNFINISHED
from tools.dlq.inspect import InspectReport
from tools.dlq.messages import UNDECODABLE
from tools.dlq.report import MoveReport

SAMPLE_MESSAGE_CHARS: Final = 300
# An inspect run again holds the same messages and stops at the same place: for it, "unfinished" is a warning
# about the counts.
_INSPECT_UNFINISHED: Final = f"The counts above do not cover the whole queue (exit status {EXIT_UNFINISHED})."


def print_progress(task: Mapping[str, Any]) -> None:
    """Print a move task's progress to stderr (``redrive --wait``)."""
    print(
        f"move task {task.get('Status')}: {task.get('ApproximateNumberOfMessagesMoved', 0)} of "
        f"{task.get('ApproximateNumberOfMessagesToMove', '?')} moved",
        file=sys.stderr,
    )


def render_inspect(report: InspectReport) -> str:
    """The inspect report for a person."""
    data = report.to_dict()
    approximate = report.approximate
    lines = [
        f"Dead-letter queue {report.dlq_url}",
        f"  SQS counts about {approximate['waiting']} waiting, {approximate['inFlight']} in flight "
        f"(being read by someone else), {approximate['delayed']} delayed; this pass read {report.read}.",
    ]
    if report.stopped and not report.partial:
        lines.append(f"  Stopped early: {report.stopped}.")
    if not report.read:
        if not report.partial:
            lines.append("  Nothing to see: the queue is empty.")
        lines += _unfinished_lines(report.unfinished, consequence=_INSPECT_UNFINISHED)
        return "\n".join(lines)
    lines.append(f"  Oldest {data['oldest']}, newest {data['newest']}.")
    lines.append("")
    lines.append("By error code:")
    for code, summary in data["byCode"].items():
        lines += _code_lines(code, summary)
    lines.append("")
    lines.append("By API: " + ", ".join(f"{api} {count}" for api, count in sorted(data["byApi"].items())))
    lines += _unfinished_lines(report.unfinished, consequence=_INSPECT_UNFINISHED)
    return "\n".join(lines)


def _code_lines(code: str, summary: Mapping[str, Any]) -> list[str]:
    apis = ", ".join(f"{api} {count}" for api, count in sorted(summary["byApi"].items()))
    lines = [f"  {code}: {summary['count']}  (oldest {summary['oldest']}, newest {summary['newest']}; {apis})"]
    if summary["meaning"]:
        lines.append(f"    {summary['meaning']}")
    for sample in summary["samples"]:
        record = " ".join([sample["kind"] or UNDECODABLE, *(f"{k}={v}" for k, v in sample["ids"].items())])
        source = f" source {sample['sourceMessageId']}" if sample["sourceMessageId"] else ""
        api = f" {sample['api']}" if sample["api"] else ""
        lines.append(f"    - {sample['messageId']}: {record}{source}{api} at {sample['sentAt']}")
        if sample["errorMessage"]:
            lines.append(f"      {sample['errorMessage'][:SAMPLE_MESSAGE_CHARS]}")
        if "body" in sample:
            lines.append(f"      body: {sample['body']}")
    return lines


def render_move(report: MoveReport, *, command: str) -> str:
    """The redrive or replay report for a person."""
    head = "DRY RUN, nothing sent or deleted: " if report.dry_run else ""
    lines = [f"{head}{command} {report.dlq_url} -> {report.queue_url} ({report.method})"]
    lines += [f"  note: {note}" for note in report.notes]
    lines += _task_lines(report.task) if report.task is not None else _copy_lines(report)
    lines += _unfinished_lines(report.unfinished, consequence=_move_unfinished(report))
    return "\n".join(lines)


def _task_lines(task: Mapping[str, Any]) -> list[str]:
    lines = [f"  SQS message move task {task.get('TaskHandle')}: {task.get('Status')}"]
    if "ApproximateNumberOfMessagesMoved" in task:
        lines.append(
            f"  moved {task['ApproximateNumberOfMessagesMoved']} of "
            f"{task.get('ApproximateNumberOfMessagesToMove', '?')}"
        )
    if task.get("FailureReason"):
        lines.append(f"  failure: {task['FailureReason']}")
    if task.get("Status") == "RUNNING":
        lines.append(f"  follow it: aws sqs list-message-move-tasks --source-arn {task.get('SourceArn')}")
    return lines


def _copy_lines(report: MoveReport) -> list[str]:
    verb = "would move" if report.dry_run else "selected"
    lines = [f"  {verb}: {_counts(report.selected)}"]
    if not report.dry_run:
        lines.append(f"  moved: {len(report.outcome.moved)}")
    # Counted by this pass: with messages out of its sight (below), "none" would claim too much.
    unseen = ", and those this pass could not see (below)" if report.unseen else ""
    lines.append(f"  left in the DLQ: {_counts(report.kept)}{unseen}")
    for entry in report.still_failing:
        now = f" still {entry['now']}" if entry["now"] == entry["was"] else f" now {entry['now']}"
        lines.append(f"    - {entry['messageId']} ({entry['was']}){now}: {entry['reason'][:SAMPLE_MESSAGE_CHARS]}")
    for message, reason in report.outcome.failed:
        lines.append(f"  NOT copied, still in the DLQ: {message.message_id} ({message.code}): {reason}")
    for message, reason in report.outcome.undeleted:
        lines.append(
            f"  copied but NOT deleted (the next run copies it again, a harmless duplicate): {message.message_id}: "
            f"{reason}"
        )
    if report.stopped and not report.partial:
        lines.append(f"  stopped early: {report.stopped}")
    return lines


def _move_unfinished(report: MoveReport) -> str:
    """What an unfinished redrive or replay means, and what to do next."""
    if report.dry_run:
        return (
            "A dry run moves nothing: what would move is counted only as far as this pass reached "
            f"(exit status {EXIT_UNFINISHED})."
        )
    if report.task is not None:
        # The task may have moved some or all of them: nothing here knows how many.
        return (
            "Nothing is lost: whatever the move task did not move is still in the DLQ. Once the check above shows "
            f"the task is over, run the same command again for what is left (exit status {EXIT_UNFINISHED})."
        )
    if report.outcome.moved:
        # It deleted what it moved: a FIFO group moves on, fewer messages are in flight, so a new run goes further.
        return (
            "Nothing is lost: whatever this run did not move is still in the DLQ; run the same command again to go "
            f"on from there (exit status {EXIT_UNFINISHED})."
        )
    return (
        "Nothing is lost: everything this run did not move is still in the DLQ. It moved nothing, so the same "
        f"command run again unchanged may stop at the same place: act on the reason above first (exit status "
        f"{EXIT_UNFINISHED})."
    )


def _unfinished_lines(reasons: Sequence[str], *, consequence: str) -> list[str]:
    # Last in the report, where the eye lands: the exit status alone would not say what to do.
    if not reasons:
        return []
    return [*(f"  NOT FINISHED: {reason}" for reason in reasons), f"  {consequence}"]


def _counts(counter: Counter[str]) -> str:
    if not counter:
        return "none"
    total = sum(counter.values())
    return f"{total} (" + ", ".join(f"{code} {count}" for code, count in counter.most_common()) + ")"
