"""``inspect``: read the DLQ once through and summarise it by error code and API; every message stays."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tools.dlq.errors import EXIT_OK, EXIT_UNFINISHED
from tools.dlq.messages import REDRIVE_POLICY, REDRIVE_POLICY_MEANING, UNDECODABLE, DeadLetterMessage
from tools.dlq.report import DEFAULT_SAMPLES, iso, unfinished_reasons
from tools.dlq.scan import DEFAULT_HOLD_SECONDS, DEFAULT_WAIT_SECONDS, DeadLetterScan, unseen_reason
from tools.dlq.sqs import approximate_counts

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


@dataclass(slots=True)
class CodeSummary:
    """The messages of one error code."""

    code: str
    count: int = 0
    oldest: datetime | None = None
    newest: datetime | None = None
    apis: Counter[str] = field(default_factory=Counter)
    samples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, message: DeadLetterMessage, *, samples: int, show_bodies: bool) -> None:
        """Count ``message``, and keep it as a sample while there are fewer than ``samples``."""
        self.count += 1
        self.apis[message.target_api or UNDECODABLE] += 1
        sent = message.sent_at
        if sent is not None:
            self.oldest = sent if self.oldest is None else min(self.oldest, sent)
            self.newest = sent if self.newest is None else max(self.newest, sent)
        if len(self.samples) < samples:
            self.samples.append(_sample(message, show_bodies=show_bodies))


def _sample(message: DeadLetterMessage, *, show_bodies: bool) -> dict[str, Any]:
    kind, ids = message.record()
    sample: dict[str, Any] = {
        "messageId": message.message_id,
        "sourceMessageId": message.source_message_id,
        "kind": kind,
        "ids": ids,
        "api": message.api,
        "errorMessage": message.error_message,
        "sentAt": iso(message.sent_at),
    }
    if show_bodies:
        sample["body"] = message.body
    return sample


@dataclass(slots=True)
class InspectReport:
    """What a pass over the DLQ found."""

    dlq_url: str
    approximate: dict[str, int]
    by_code: dict[str, CodeSummary] = field(default_factory=dict)
    read: int = 0
    stopped: str | None = None
    partial: bool = False
    released_failures: int = 0

    @property
    def unfinished(self) -> list[str]:
        """Why the counts may not cover the whole queue, or a later run may not see all of it; empty when neither.

        Messages SQS counted in flight or delayed before the pass began were out of its sight.
        """
        return unfinished_reasons(
            stopped=self.stopped,
            partial=self.partial,
            released_failures=self.released_failures,
            unseen=unseen_reason(self.approximate),
        )

    @property
    def exit_status(self) -> int:
        """:data:`~tools.dlq.errors.EXIT_UNFINISHED` when :attr:`unfinished` says why, else ``EXIT_OK``."""
        return EXIT_UNFINISHED if self.unfinished else EXIT_OK

    @property
    def by_api(self) -> Counter[str]:
        """Messages per Personalize API, over every code."""
        total: Counter[str] = Counter()
        for summary in self.by_code.values():
            total.update(summary.apis)
        return total

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        oldest = [s.oldest for s in self.by_code.values() if s.oldest]
        newest = [s.newest for s in self.by_code.values() if s.newest]
        return {
            "dlqUrl": self.dlq_url,
            "approximate": self.approximate,
            "read": self.read,
            "oldest": iso(min(oldest)) if oldest else None,
            "newest": iso(max(newest)) if newest else None,
            "byCode": {
                code: {
                    "count": s.count,
                    "meaning": REDRIVE_POLICY_MEANING if code == REDRIVE_POLICY else None,
                    "oldest": iso(s.oldest),
                    "newest": iso(s.newest),
                    "byApi": dict(s.apis),
                    "samples": s.samples,
                }
                for code, s in sorted(self.by_code.items(), key=lambda item: (-item[1].count, item[0]))
            },
            "byApi": dict(self.by_api),
            "stopped": self.stopped,
            "notReleased": self.released_failures,
            "unfinished": self.unfinished,
        }


def inspect(
    *,
    sqs: SQSClient,
    dlq_url: str,
    samples: int = DEFAULT_SAMPLES,
    show_bodies: bool = False,
    limit: int | None = None,
    hold_seconds: int = DEFAULT_HOLD_SECONDS,
    wait_seconds: int = DEFAULT_WAIT_SECONDS,
) -> InspectReport:
    """Read the DLQ once through and summarise it; every message is visible again afterwards.

    Parameters
    ----------
    sqs
        An SQS client.
    dlq_url
        The dead-letter queue.
    samples
        Messages kept as examples per error code.
    show_bodies
        Include the samples' bodies (property values: possibly personal data).
    limit
        Read at most this many messages.
    hold_seconds, wait_seconds
        See :class:`~tools.dlq.scan.DeadLetterScan`.
    """
    report = InspectReport(dlq_url=dlq_url, approximate=approximate_counts(sqs, dlq_url))
    with DeadLetterScan(
        sqs=sqs, queue_url=dlq_url, hold_seconds=hold_seconds, wait_seconds=wait_seconds, limit=limit
    ) as scan:
        for batch in scan:
            for message in batch:
                summary = report.by_code.setdefault(message.code, CodeSummary(code=message.code))
                summary.add(message, samples=samples, show_bodies=show_bodies)
        report.read = scan.read
        report.stopped = scan.stopped
        report.partial = scan.partial
    report.released_failures = scan.release_failures
    return report
