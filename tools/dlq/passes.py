"""One copying pass over the DLQ, shared by redrive and replay: read, choose, copy what was chosen, report."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from tools.dlq.copier import Copier, RateLimiter
from tools.dlq.messages import DeadLetterMessage
from tools.dlq.report import MoveReport
from tools.dlq.scan import DeadLetterScan, unseen_reason
from tools.dlq.sqs import approximate_counts

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# Whether a message goes back to the ingest queue. Called only while --limit leaves room; a chooser may note why
# it keeps a message (replay lists the ones still failing).
Chooser = Callable[[DeadLetterMessage], bool]


def copy_pass(
    *,
    sqs: SQSClient,
    report: MoveReport,
    choose: Chooser,
    limit: int | None,
    limiter: RateLimiter,
    hold_seconds: int,
    wait_seconds: int,
    counts: Mapping[str, int] | None = None,
) -> None:
    """Read the DLQ once through; copy back the messages ``choose`` picks (none on a dry run); fill in ``report``.

    What is chosen is counted in ``report.selected``, the rest in ``report.kept``; both by error code. A message is
    deleted only after SQS confirmed its copy (:class:`~tools.dlq.copier.Copier`); everything else is visible
    again when the pass ends (:class:`~tools.dlq.scan.DeadLetterScan`).

    Parameters
    ----------
    sqs
        An SQS client.
    report
        Names the queues and whether this is a dry run; receives what the pass did.
    choose
        Picks the messages to move.
    limit
        Move at most this many; the pass stops once it has chosen that many.
    limiter
        Paces the copies.
    hold_seconds, wait_seconds
        See :class:`~tools.dlq.scan.DeadLetterScan`.
    counts
        The DLQ's counts (:func:`~tools.dlq.sqs.approximate_counts`) taken before anything of this run held a
        message; read now when None. Messages in flight or delayed then are out of this pass's sight: the report
        says so (``report.unseen``), so that it does not pass for a pass over the whole DLQ.
    """
    report.unseen = unseen_reason(counts if counts is not None else approximate_counts(sqs, report.dlq_url))
    copier = Copier(sqs=sqs, dlq_url=report.dlq_url, queue_url=report.queue_url, limiter=limiter)
    with DeadLetterScan(
        sqs=sqs, queue_url=report.dlq_url, hold_seconds=hold_seconds, wait_seconds=wait_seconds
    ) as scan:
        for batch in scan:
            chosen = _choose(batch, report, choose, limit)
            if not report.dry_run and chosen:
                outcome = copier.move(chosen)
                scan.deleted(outcome.moved)
                report.outcome.extend(outcome)
            if _limit_reached(report, limit):
                report.stopped = f"--limit {limit} reached"
                break
        report.stopped = report.stopped or scan.stopped
        report.partial = scan.partial
    report.released_failures += scan.release_failures


def _choose(
    batch: list[DeadLetterMessage], report: MoveReport, choose: Chooser, limit: int | None
) -> list[DeadLetterMessage]:
    chosen = []
    for message in batch:
        if not _limit_reached(report, limit) and choose(message):
            report.selected[message.code] += 1
            chosen.append(message)
        else:
            report.kept[message.code] += 1
    return chosen


def _limit_reached(report: MoveReport, limit: int | None) -> bool:
    return limit is not None and sum(report.selected.values()) >= limit
