"""Moving dead letters back: copy into the ingest queue, then delete each original once SQS confirmed its copy."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, cast

from botocore.exceptions import BotoCoreError, ClientError

# The Lambda packs its dead letters into SendMessageBatch calls by the same limits (10 entries, 256 KiB): one
# packing for both. It only asks each entry for its size(), which DeadLetterMessage has too.
from ingest.dead_letter import pack_batches
from tools.aws_errors import describe_error
from tools.dlq.messages import DeadLetterMessage

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import DeleteMessageBatchRequestEntryTypeDef, SendMessageBatchRequestEntryTypeDef

    from ingest.dead_letter import DeadLetter

# Default pace of a redrive: half of what the pipeline can write (PutItems/PutUsers/PutActions allow 10 calls/s of
# 10 records per dataset group, docs/personalize.md §2), so a big redrive neither builds a backlog that trips the
# "falling behind" alarm nor starves live traffic. --max-per-second 0 removes the limit.
DEFAULT_MAX_PER_SECOND: Final = 50.0


def pack(messages: Iterable[DeadLetterMessage]) -> list[list[DeadLetterMessage]]:
    """``messages`` in SendMessageBatch-sized batches, in order: at most 10 entries and 256 KiB each."""
    # pack_batches is typed for the Lambda's own DeadLetter; it reads nothing of it but size().
    batches = pack_batches(cast("Iterable[DeadLetter]", messages))
    return cast("list[list[DeadLetterMessage]]", batches)


class RateLimiter:
    """Spaces sends so that, on average, at most ``per_second`` messages go out; no limit when falsy."""

    def __init__(
        self,
        per_second: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._per_second = per_second
        self._clock = clock
        self._sleep = sleep
        self._next: float | None = None

    def acquire(self, count: int) -> None:
        """Wait until ``count`` more messages may go."""
        if not self._per_second:
            return
        now = self._clock()
        start = now if self._next is None else max(now, self._next)
        self._next = start + count / self._per_second
        if start > now:
            self._sleep(start - now)


@dataclass(slots=True)
class CopyOutcome:
    """What happened to the messages given to :meth:`Copier.move`."""

    moved: list[DeadLetterMessage] = field(default_factory=list)
    # Not copied: still in the DLQ, untouched; the reason is SQS's.
    failed: list[tuple[DeadLetterMessage, str]] = field(default_factory=list)
    # Copied, but the delete failed: still in the DLQ, so the next run copies it again (a harmless duplicate).
    undeleted: list[tuple[DeadLetterMessage, str]] = field(default_factory=list)

    def extend(self, other: CopyOutcome) -> None:
        """Add ``other``'s messages to this outcome."""
        self.moved += other.moved
        self.failed += other.failed
        self.undeleted += other.undeleted


class Copier:
    """Copies dead letters into the ingest queue, then deletes each original, and only after SQS confirmed its copy.

    The copy's body is the original body, unchanged (docs/contracts.md §3); its attributes are upstream's, without
    the failure's. Into a FIFO queue, a copy keeps its message group, and its deduplication id is the DLQ message's
    id, so a second run after a crash between copy and delete is deduplicated by SQS, but only when it sends its
    copy within five minutes of the first: after a crash that also skipped the release, the original reappears
    only when its hold (``--hold-seconds``, default 300) ends, usually too late for that window. Both copies then
    reach the Lambda, and carry the same ``PersonalizeIngest.SourceMessageId``, from which it derives the same
    eventId.

    Parameters
    ----------
    sqs
        An SQS client.
    dlq_url, queue_url
        Where the messages are, and where they go.
    limiter
        Paces the sends.
    """

    def __init__(self, *, sqs: SQSClient, dlq_url: str, queue_url: str, limiter: RateLimiter) -> None:
        self._sqs = sqs
        self._dlq_url = dlq_url
        self._queue_url = queue_url
        self._fifo = queue_url.endswith(".fifo")
        self._limiter = limiter

    def move(self, messages: Sequence[DeadLetterMessage]) -> CopyOutcome:
        """Copy then delete ``messages``, in batches packed by count and size."""
        outcome = CopyOutcome()
        for batch in pack(messages):
            self._limiter.acquire(len(batch))
            copied = self._copy(batch, outcome)
            # Only what SQS confirmed is deleted; everything else stays where it is.
            self._delete(copied, outcome)
        return outcome

    def _copy(self, batch: Sequence[DeadLetterMessage], outcome: CopyOutcome) -> list[DeadLetterMessage]:
        entries = [self._entry(index, message) for index, message in enumerate(batch)]
        try:
            response = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
        except (ClientError, BotoCoreError) as exc:
            outcome.failed += [(message, describe_error(exc)) for message in batch]
            return []
        for entry in response.get("Failed", []):
            outcome.failed.append((batch[int(entry["Id"])], f"{entry.get('Code')}: {entry.get('Message', '')}"))
        confirmed = {int(entry["Id"]) for entry in response.get("Successful", [])}
        refused = {int(entry["Id"]) for entry in response.get("Failed", [])}
        # An entry SQS neither confirmed nor refused is not known to be copied: it stays in the DLQ.
        outcome.failed += [
            (message, "SQS did not confirm the copy")
            for index, message in enumerate(batch)
            if index not in confirmed | refused
        ]
        return [batch[index] for index in sorted(confirmed)]

    def _delete(self, copied: Sequence[DeadLetterMessage], outcome: CopyOutcome) -> None:
        if not copied:
            return
        entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
            {"Id": str(index), "ReceiptHandle": message.receipt_handle} for index, message in enumerate(copied)
        ]
        try:
            response = self._sqs.delete_message_batch(QueueUrl=self._dlq_url, Entries=entries)
        except (ClientError, BotoCoreError) as exc:
            outcome.undeleted += [(message, describe_error(exc)) for message in copied]
            return
        deleted = {int(entry["Id"]) for entry in response.get("Successful", [])}
        outcome.moved += [message for index, message in enumerate(copied) if index in deleted]
        outcome.undeleted += [
            (copied[int(entry["Id"])], f"{entry.get('Code')}: {entry.get('Message', '')}")
            for entry in response.get("Failed", [])
        ]

    def _entry(self, index: int, message: DeadLetterMessage) -> SendMessageBatchRequestEntryTypeDef:
        entry: SendMessageBatchRequestEntryTypeDef = {"Id": str(index), "MessageBody": message.body}
        attributes = message.forwarded_attributes()
        if attributes:
            entry["MessageAttributes"] = attributes
        if self._fifo:
            entry["MessageGroupId"] = message.group_id or "redrive"
            entry["MessageDeduplicationId"] = message.message_id
        return entry
