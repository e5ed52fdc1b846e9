"""Inspect, redrive and replay the ingest pipeline's dead-letter queue (DESIGN.md Contract 3).

Three subcommands, for the on-call engineer::

    python -m tools.dlq inspect --dlq-url URL [--show-bodies] [--samples N] [--limit N] [--json]
    python -m tools.dlq redrive --dlq-url URL --queue-url URL [--codes C,...] [--dry-run] [--max-per-second N]
                                [--method auto|move-task|copy] [--wait]
    python -m tools.dlq replay  --dlq-url URL --queue-url URL [--codes C,...] [--dry-run] [--max-per-second N]
                                [--function-name NAME] [--dataset-arn KIND=ARN ...] [--tracking-id KIND=ID ...]

What they promise:

- **Nothing is lost.** A message leaves the DLQ only by DeleteMessage, and only after SQS confirmed its copy in the
  ingest queue. A crash between the two leaves the message in the DLQ (it becomes visible again when its hold
  ends) and the next run copies it again: a duplicate, and a harmless one. Items, users and actions are upserts.
  Every copy carries ``SourceMessageId`` (the original's id), from which the Lambda derives a missing ``eventId``,
  so both copies of an event or action interaction get the same eventId and Personalize uses it once. On a FIFO
  queue SQS also drops the second copy, but only within its five-minute deduplication window (see ``Copier``).
- **No new ids behind the Lambda's back.** SQS's message move task gives every message it moves a new message id.
  A message the ingest queue's redrive policy moved carries no ``SourceMessageId``, so after a move task the
  Lambda would derive a new eventId for it, and an event Personalize already took before a crash would count
  twice. ``redrive`` therefore uses a move task only when every message in the DLQ carries ``SourceMessageId``,
  and copies otherwise (see :func:`redrive`).
- **Reading is not moving.** SQS has no "peek": a message is read by receiving it, which hides it. The tools hold
  what they read for ``--hold-seconds`` (so one pass sees every message once), then make everything they did not
  move visible again at once. If the process dies, SQS makes them visible itself when the hold ends.
- **No property values on screen** (they may be personal data): record ids, codes, the pipeline's error messages
  and counts only, unless ``inspect --show-bodies`` asks for the bodies.

Clients are built plainly (boto3's usual credentials chain), so ``AWS_ENDPOINT_URL_SQS`` /
``AWS_ENDPOINT_URL_PERSONALIZE`` / ``AWS_ENDPOINT_URL_LAMBDA`` (or ``--endpoint-url``) point them at local stand-ins,
as for the Lambda. The region is ``--region``, else the one in the queue's URL, else the SDK's. ``replay`` validates
with the ingest Lambda's own code (``lambdas/ingest``), against the dataset schemas Personalize holds now, for the
datasets the deployed function writes to (``--function-name``: its environment, Contract 2).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

# The ingest Lambda's code is the reference for what "valid" means: replay imports it rather than copying it. Its
# modules import each other absolutely from lambdas/ (DESIGN.md), so that directory goes on the path first.
LAMBDAS_ROOT: Final = Path(__file__).resolve().parent.parent / "lambdas"
if str(LAMBDAS_ROOT) not in sys.path:
    sys.path.insert(0, str(LAMBDAS_ROOT))

from ingest.catalog import DatasetCatalog  # noqa: E402
from ingest.decode import SOURCE_MESSAGE_ID, Message, decode  # noqa: E402
from ingest.errors import ErrorCode, RejectedRecord, classify  # noqa: E402
from ingest.kinds import KINDS, Kind  # noqa: E402
from ingest.model import ApiModel, api_models  # noqa: E402
from ingest.schema import DatasetSchema  # noqa: E402
from ingest.settings import DEAD_LETTER_QUEUE_URL, Settings  # noqa: E402
from ingest.validate import validate  # noqa: E402

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType
    from mypy_boto3_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef,
        DeleteMessageBatchRequestEntryTypeDef,
        MessageAttributeValueTypeDef,
        SendMessageBatchRequestEntryTypeDef,
    )

# The attributes the ingest Lambda adds when it dead-letters a record (Contract 3). A copy sent back drops the
# ones that describe the failure (a fresh failure gets fresh ones) but keeps SourceMessageId: it names the
# original message, from which the Lambda derives a missing eventId, so an event copied twice after a crash,
# or replayed after a partial failure, still counts once in training.
CONTRACT_ATTRIBUTES: Final = frozenset({"ErrorCode", "ErrorMessage", "Api"})
# A message without ErrorCode was not written by the handler: the ingest queue's redrive policy moved it after
# maxReceiveCount deliveries (the function crashed or timed out on it, or a setup error outlasted the retries).
REDRIVE_POLICY: Final = "RedrivePolicy"
REDRIVE_POLICY_MEANING: Final = (
    "no ErrorCode: moved by the ingest queue's redrive policy after maxReceiveCount deliveries "
    "(a crash, a timeout, or a setup error that outlasted the retries)"
)
KNOWN_CODES: Final[tuple[str, ...]] = (*(str(code) for code in ErrorCode), REDRIVE_POLICY)
# What replay re-validates: rejections that a fixed schema or configuration can cure. MalformedMessage is the
# body's own fault; RetriesExhausted and redrive-policy moves were never invalid (redrive them instead).
REPLAYABLE: Final[tuple[str, ...]] = (
    str(ErrorCode.SCHEMA_VIOLATION),
    str(ErrorCode.INVALID_INPUT),
    str(ErrorCode.DATASET_NOT_CONFIGURED),
)

# SQS limits (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html):
# 10 entries per batch call, 256 KiB per SendMessageBatch.
MAX_BATCH_ENTRIES: Final = 10
MAX_BATCH_BYTES: Final = 256 * 1024
# StartMessageMoveTask's MaxNumberOfMessagesPerSecond is at most 500.
MOVE_TASK_MAX_RATE: Final = 500
# A visibility timeout is at most 12 hours.
MAX_VISIBILITY_TIMEOUT: Final = 43_200
# Default pace of a redrive: half of what the pipeline can write (PutItems/PutUsers/PutActions allow 10 calls/s of
# 10 records per dataset group, PERSONALIZE.md §2), so a big redrive neither builds a backlog that trips the
# "falling behind" alarm nor starves live traffic. --max-per-second 0 removes the limit.
DEFAULT_MAX_PER_SECOND: Final = 50.0
# How long a read message stays hidden. Long enough for one pass over a large DLQ at the default pace; short
# enough that, should the tool die, the DLQ looks normal again within minutes.
DEFAULT_HOLD_SECONDS: Final = 300
DEFAULT_WAIT_SECONDS: Final = 1
DEFAULT_SAMPLES: Final = 5
MOVE_TASK_POLL_SECONDS: Final = 5.0
SAMPLE_MESSAGE_CHARS: Final = 300
_MOVE_TASK_DONE: Final = frozenset({"COMPLETED", "CANCELLED", "FAILED"})
_MOVE_TASK_FAILED: Final = frozenset({"CANCELLED", "FAILED"})
# A task SQS accepted and nobody waited for (RUNNING), or one that finished (COMPLETED), was handled; any other
# status (UNKNOWN: ListMessageMoveTasks no longer lists it) leaves its outcome open. An allow-list, so a status
# this tool does not know never passes for success.
_MOVE_TASK_HANDLED: Final = frozenset({"RUNNING", "COMPLETED"})
# Exit statuses (README, "What the tools promise"). UNFINISHED is apart from FAILED so that a person or a script
# can tell "something failed: look at it" from "nothing failed, but this run did not reach everything: run the
# same command again".
EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2  # argparse's own, for parser.error
EXIT_UNFINISHED: Final = 3
# The request fields that identify a record (Contract 1): shown by inspect. Ids, never property values.
RECORD_ID_FIELDS: Final[tuple[str, ...]] = ("itemId", "actionId", "userId", "sessionId", "eventId")
MAX_ID_CHARS: Final = 256  # the longest id Personalize accepts (PERSONALIZE.md §2); longer is not an id
UNDECODABLE: Final = "(not decodable)"
# https://sqs.REGION.amazonaws.com/ACCOUNT/NAME (also .amazonaws.com.cn), and the legacy REGION.queue.amazonaws.com.
_QUEUE_URL_REGION: Final = re.compile(
    r"^https?://(?:sqs\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?|(?P<legacy>[a-z0-9-]+)\.queue\.amazonaws\.com)/"
)
# The service's retries, not ours: a throttled or 5xx answer is retried with backoff before the tool sees it.
_CLIENT_CONFIG: Final = Config(retries={"mode": "standard", "total_max_attempts": 5}, user_agent_extra="dlq-tool")


class DlqToolError(Exception):
    """A problem the user must fix (a bad argument, a refused request); printed as one line."""


# --- what a dead letter is ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeadLetterMessage:
    """One message as received from the DLQ: its body, its Contract 3 attributes, and the handle to act on it."""

    message_id: str
    receipt_handle: str
    body: str
    attributes: Mapping[str, Mapping[str, Any]]
    system: Mapping[str, str]

    @classmethod
    def from_sqs(cls, raw: Mapping[str, Any]) -> DeadLetterMessage:
        """Wrap one entry of a ReceiveMessage answer."""
        return cls(
            message_id=str(raw["MessageId"]),
            receipt_handle=str(raw["ReceiptHandle"]),
            body=str(raw.get("Body", "")),
            attributes=dict(raw.get("MessageAttributes") or {}),
            system=dict(raw.get("Attributes") or {}),
        )

    def _string(self, name: str) -> str | None:
        value = self.attributes.get(name)
        return str(value["StringValue"]) if value and "StringValue" in value else None

    @property
    def code(self) -> str:
        """The ErrorCode attribute, or :data:`REDRIVE_POLICY` when the message has none."""
        return self._string("ErrorCode") or REDRIVE_POLICY

    @property
    def error_message(self) -> str | None:
        """Why the handler dead-lettered it (field names and limits, never values)."""
        return self._string("ErrorMessage")

    @property
    def source_message_id(self) -> str | None:
        """The ingest queue's message id (a redrive-policy move keeps its message id: that is the DLQ's)."""
        return self._string("SourceMessageId")

    @property
    def api(self) -> str | None:
        """The Personalize API called, when the record failed in a call."""
        return self._string("Api")

    @property
    def group_id(self) -> str | None:
        """The FIFO message group, on a FIFO DLQ."""
        return self.system.get("MessageGroupId")

    @property
    def sent_at(self) -> datetime | None:
        """When SQS accepted it into the DLQ. A redrive-policy move into a standard DLQ keeps the ingest queue's
        enqueue time; into a FIFO DLQ it resets it to the move
        (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/setting-up-dead-letter-queue-retention.html)."""
        raw = self.system.get("SentTimestamp")
        return datetime.fromtimestamp(int(raw) / 1000, tz=UTC) if raw and raw.isdigit() else None

    def as_ingest_message(self) -> Message:
        """The message as the ingest Lambda would see it on its first delivery."""
        return Message(
            message_id=self.source_message_id or self.message_id,
            body=self.body,
            position=0,
            receive_count=1,
            sent_timestamp=int(self.system.get("SentTimestamp", "0") or 0),
            group_id=self.group_id,
            source_message_id=self.source_message_id,
        )

    def record(self) -> tuple[str | None, dict[str, str]]:
        """The record's kind (``item``, ``event``...) and ids, read with the Lambda's own decoder; (None, {}) when
        the body is not a change it can read. Ids only: never a property value."""
        try:
            change = decode(self.as_ingest_message())
        except Exception:  # MalformedMessage, or a body the decoder chokes on: one message must not stop a pass
            return None, {}
        ids = {
            name: str(value)
            for name in RECORD_ID_FIELDS
            if isinstance(value := change.fields.get(name), str | int)
            and not isinstance(value, bool)
            and len(str(value)) <= MAX_ID_CHARS
        }
        return change.kind.name, ids

    @property
    def target_api(self) -> str | None:
        """The API the record failed in (``Api``) or, when it failed before a call, the one its kind is written
        with; None when the body names no kind."""
        if self.api:
            return self.api
        kind, _ = self.record()
        return KINDS[kind].api if kind else None

    def forwarded_attributes(self) -> dict[str, MessageAttributeValueTypeDef]:
        """The attributes a copy carries: upstream's own and ``SourceMessageId``, without the failure's.

        A message the redrive policy moved has no SourceMessageId; its DLQ message id is the original's (SQS keeps
        it), so the copy names that. Two copies of one dead letter (after a crash between copy and delete) then
        carry the same SourceMessageId, from which the Lambda derives the same missing eventId.
        """
        forwarded: dict[str, MessageAttributeValueTypeDef] = {}
        for name, value in self.attributes.items():
            if name in CONTRACT_ATTRIBUTES:
                continue
            copy: MessageAttributeValueTypeDef = {"DataType": str(value["DataType"])}
            if "StringValue" in value:
                copy["StringValue"] = str(value["StringValue"])
            if "BinaryValue" in value:
                copy["BinaryValue"] = value["BinaryValue"]
            forwarded[name] = copy
        if SOURCE_MESSAGE_ID not in forwarded:
            forwarded[SOURCE_MESSAGE_ID] = {"DataType": "String", "StringValue": self.message_id}
        return forwarded

    def size(self) -> int:
        """Bytes this message counts towards a batch (body, attribute names, types and values)."""
        attributes = sum(
            len(name) + len(value["DataType"]) + len(str(value.get("StringValue", value.get("BinaryValue", ""))))
            for name, value in self.forwarded_attributes().items()
        )
        return len(self.body.encode()) + attributes


# --- reading the DLQ once through --------------------------------------------------------------------------------


class DeadLetterScan:
    """Receives every message of a queue once, holding each invisible until it is deleted or released.

    Why hold: a message released right away could be returned by the next ReceiveMessage again, and a pass could
    never tell when it had seen the whole queue. Held for ``hold_seconds``, every receive returns messages not yet
    seen, until the queue has none left. Leaving the ``with`` block releases (ChangeMessageVisibility 0) whatever
    was not deleted, even on an exception, so the queue looks as it did; if the process dies instead, SQS releases
    them when ``hold_seconds`` end. A scan can delay a message, never lose one.

    Parameters
    ----------
    sqs
        An SQS client.
    queue_url
        The queue to read (the DLQ).
    hold_seconds
        Visibility timeout of each receive (SQS allows 0..43,200).
    wait_seconds
        Long polling per receive: SQS then asks every server, so an empty answer means an empty queue.
    limit
        Read at most this many messages.
    """

    def __init__(
        self,
        *,
        sqs: SQSClient,
        queue_url: str,
        hold_seconds: int = DEFAULT_HOLD_SECONDS,
        wait_seconds: int = DEFAULT_WAIT_SECONDS,
        limit: int | None = None,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._hold_seconds = hold_seconds
        self._wait_seconds = wait_seconds
        self._limit = limit
        self._held: dict[str, DeadLetterMessage] = {}
        self._seen: set[str] = set()
        self.stopped: str | None = None
        # The queue, not --limit, ended the pass: messages it did not reach may still be in the queue.
        self.partial = False
        self.release_failures = 0

    def __enter__(self) -> DeadLetterScan:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()

    @property
    def read(self) -> int:
        """Messages read so far."""
        return len(self._seen)

    def __iter__(self) -> Iterator[list[DeadLetterMessage]]:
        """Yield the messages of each receive that were not seen before, until the queue has none left."""
        while self._limit is None or self.read < self._limit:
            wanted = MAX_BATCH_ENTRIES if self._limit is None else min(MAX_BATCH_ENTRIES, self._limit - self.read)
            try:
                response = self._sqs.receive_message(
                    QueueUrl=self._queue_url,
                    MaxNumberOfMessages=wanted,
                    VisibilityTimeout=self._hold_seconds,
                    WaitTimeSeconds=self._wait_seconds,
                    MessageAttributeNames=["All"],
                    MessageSystemAttributeNames=["All"],
                )
            except ClientError as exc:
                if "OverLimit" in _error_code(exc):
                    # A standard queue allows 120,000 messages in flight (FIFO: 20,000), other readers' included.
                    # What to do about it depends on the command (a redrive run again goes further: it deleted
                    # what it moved), so the reasons here only say what happened; the reports add the remedy.
                    self.stopped = (
                        "SQS's limit of messages in flight was reached (120,000 on a standard queue, 20,000 on a "
                        "FIFO queue, counting what other readers hold)"
                    )
                    self.partial = True
                    return
                raise
            fresh = []
            for raw in response.get("Messages", []):
                message = DeadLetterMessage.from_sqs(raw)
                self._held[message.message_id] = message  # the newest receipt handle is the one that works
                if message.message_id not in self._seen:
                    self._seen.add(message.message_id)
                    fresh.append(message)
            if not fresh:
                if response.get("Messages"):
                    # Only messages read before came back: the pass took longer than --hold-seconds.
                    self.stopped = (
                        "messages read earlier became visible again before the pass ended (raise --hold-seconds)"
                    )
                elif self._queue_url.endswith(".fifo"):
                    self.stopped = self._fifo_blocked()
                self.partial = self.stopped is not None
                return
            yield fresh
        self.stopped = f"--limit {self._limit} reached"

    def _fifo_blocked(self) -> str | None:
        # A FIFO queue returns no later message of a group while an earlier one is held (in flight); a receive
        # returns at most 10 of a group at once. What is left visible now is waiting behind what this pass holds.
        left = _approximate_counts(self._sqs, self._queue_url)["waiting"]
        if not left:
            return None
        return (
            f"{left} message(s) of this FIFO queue waited behind messages this pass held (same message group); SQS "
            "shows them only once the messages ahead of them have left the DLQ"
        )

    def deleted(self, messages: Sequence[DeadLetterMessage]) -> None:
        """Forget messages that were deleted: there is nothing left to release."""
        for message in messages:
            self._held.pop(message.message_id, None)

    def release(self) -> None:
        """Make every message still held visible again (best effort: the hold's end does it anyway)."""
        held, self._held = list(self._held.values()), {}
        for start in range(0, len(held), MAX_BATCH_ENTRIES):
            chunk = held[start : start + MAX_BATCH_ENTRIES]
            entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
                {"Id": str(index), "ReceiptHandle": message.receipt_handle, "VisibilityTimeout": 0}
                for index, message in enumerate(chunk)
            ]
            try:
                response = self._sqs.change_message_visibility_batch(QueueUrl=self._queue_url, Entries=entries)
            except (ClientError, BotoCoreError):
                self.release_failures += len(chunk)
                continue
            self.release_failures += len(response.get("Failed", []))


# --- moving messages back ------------------------------------------------------------------------------------------


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

    The copy's body is the original body, unchanged (Contract 3); its attributes are upstream's, without the
    Contract 3 ones. Into a FIFO queue, a copy keeps its message group, and its deduplication id is the DLQ
    message's id, so a second run after a crash between copy and delete is deduplicated by SQS, but only when it
    sends its copy within five minutes of the first: after a crash that also skipped the release, the original
    reappears only when its hold (``--hold-seconds``, default 300) ends, usually too late for that window. Both
    copies then reach the Lambda, and carry the same ``SourceMessageId``, from which it derives the same eventId.

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
        for batch in _pack(messages):
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
            outcome.failed += [(message, _describe(exc)) for message in batch]
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
            outcome.undeleted += [(message, _describe(exc)) for message in copied]
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


def _pack(messages: Sequence[DeadLetterMessage]) -> list[list[DeadLetterMessage]]:
    batches: list[list[DeadLetterMessage]] = []
    current: list[DeadLetterMessage] = []
    current_bytes = 0
    for message in messages:
        size = message.size()
        if current and (len(current) == MAX_BATCH_ENTRIES or current_bytes + size > MAX_BATCH_BYTES):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(message)
        current_bytes += size
    if current:
        batches.append(current)
    return batches


# --- inspect -------------------------------------------------------------------------------------------------------


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
            kind, ids = message.record()
            sample: dict[str, Any] = {
                "messageId": message.message_id,
                "sourceMessageId": message.source_message_id,
                "kind": kind,
                "ids": ids,
                "api": message.api,
                "errorMessage": message.error_message,
                "sentAt": _iso(sent),
            }
            if show_bodies:
                sample["body"] = message.body
            self.samples.append(sample)


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
        """Why the counts may not cover the whole queue, or a later run may not see all of it; empty when neither."""
        return _unfinished(stopped=self.stopped, partial=self.partial, released_failures=self.released_failures)

    @property
    def exit_status(self) -> int:
        """:data:`EXIT_UNFINISHED` when :attr:`unfinished` says why, else :data:`EXIT_OK`."""
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
            "oldest": _iso(min(oldest)) if oldest else None,
            "newest": _iso(max(newest)) if newest else None,
            "byCode": {
                code: {
                    "count": s.count,
                    "meaning": REDRIVE_POLICY_MEANING if code == REDRIVE_POLICY else None,
                    "oldest": _iso(s.oldest),
                    "newest": _iso(s.newest),
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
        See :class:`DeadLetterScan`.
    """
    report = InspectReport(dlq_url=dlq_url, approximate=_approximate_counts(sqs, dlq_url))
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


# --- redrive -------------------------------------------------------------------------------------------------------


class Method(StrEnum):
    """How redrive moves messages."""

    AUTO = "auto"  # a move task when everything goes, every message carries SourceMessageId and SQS can start one
    MOVE_TASK = "move-task"  # StartMessageMoveTask: SQS moves them itself, server side
    COPY = "copy"  # receive, send a copy, delete the original: this tool moves them


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

    @property
    def has_failures(self) -> bool:
        """Whether something failed: a copy SQS refused, a delete after a copy, a move task FAILED or CANCELLED."""
        if self.task is not None and self.task.get("Status") in _MOVE_TASK_FAILED:
            return True
        return bool(self.outcome.failed or self.outcome.undeleted)

    @property
    def unfinished(self) -> list[str]:
        """Why this run may not have handled everything it would select, although nothing failed; empty when it did.

        The pass stopped before the end of the queue (a FIFO group it could not reach, messages that became visible
        again because the hold expired, the in-flight limit), messages it held could not be made visible again (a
        run before their hold ends does not see them), or a move task's outcome is unknown. ``--limit`` is not
        among them: stopping there is what was asked.
        """
        reasons = _unfinished(stopped=self.stopped, partial=self.partial, released_failures=self.released_failures)
        if self.task is not None and self.task.get("Status") not in _MOVE_TASK_HANDLED | _MOVE_TASK_FAILED:
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
        """:data:`EXIT_FAILED` when something failed (it needs a look first), else :data:`EXIT_UNFINISHED` when
        the run did not reach everything (run it again), else :data:`EXIT_OK`."""
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
            "failed": [_failure(message, reason) for message, reason in self.outcome.failed],
            "copiedNotDeleted": [_failure(message, reason) for message, reason in self.outcome.undeleted],
            "stillFailing": self.still_failing,
            "task": self.task,
            "notes": self.notes,
            "stopped": self.stopped,
            "notReleased": self.released_failures,
            "unfinished": self.unfinished,
        }


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
    progress: Callable[[Mapping[str, Any]], None] = lambda _task: None,
) -> MoveReport:
    """Move DLQ messages back to the ingest queue, all of them or those of ``codes``.

    Without a code filter or limit (``Method.AUTO``), SQS's own StartMessageMoveTask moves them, server side, at
    ``max_per_second`` (at most 500), provided every message in the DLQ carries ``SourceMessageId``: a move task
    gives each message a new message id
    (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue-redrive.html),
    and a message without SourceMessageId (one the ingest queue's redrive policy moved) would then reach the Lambda
    with nothing left of its original id, so an event without eventId would get a new one and count twice if
    Personalize had taken it before the crash. Auto mode therefore reads the DLQ first (see
    :func:`_move_task_hazard`) and copies when it finds such a message, or cannot see every message. That
    SourceMessageId itself survives a move task is inferred, not stated: the same page names a new message id and
    enqueue time as what a redrive changes, and says SQS does not support modifying messages while redriving them.
    A message the redrive policy moves into the DLQ after that read is moved by the task unchecked;
    ``Method.COPY`` rules that out.

    When SQS cannot start a move task (an emulator without it, a missing permission, a DLQ that is no queue's
    redrive target), and always with a filter or a limit, the tool moves them itself: receive, send a copy
    (setting SourceMessageId), delete after the copy is confirmed. Messages not selected are held during the pass
    (so it ends) and made visible again at the end.

    Parameters
    ----------
    sqs
        An SQS client.
    dlq_url, queue_url
        From where, to where.
    codes
        Move only messages with these ErrorCodes (:data:`REDRIVE_POLICY` for those without one); all when None.
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
        See :class:`DeadLetterScan`.
    limiter, poll
        Pacing and sleeping, replaceable in tests.
    progress
        Called with the move task's state each time ``wait`` polls it.

    Raises
    ------
    DlqToolError
        The queues are the same, or ``Method.MOVE_TASK`` was asked for and SQS refused it, or a move task is
        already running on the DLQ.
    """
    _check_queues(dlq_url, queue_url)
    if method is Method.MOVE_TASK and (codes is not None or limit is not None):
        raise DlqToolError("--method move-task moves every message: it cannot be combined with --codes or --limit")
    report = MoveReport(dlq_url=dlq_url, queue_url=queue_url, dry_run=dry_run, method=str(Method.COPY))
    wants_task = method is Method.MOVE_TASK or (method is Method.AUTO and codes is None and limit is None)
    if wants_task:
        wants_task = _move_task_allowed(
            sqs, report, checked=method is Method.AUTO, hold_seconds=hold_seconds, wait_seconds=wait_seconds
        )
    if wants_task and not dry_run:
        task = _start_move_task(sqs, dlq_url, queue_url, max_per_second, report, required=method is Method.MOVE_TASK)
        if task is not None:
            report.method = str(Method.MOVE_TASK)
            report.task = task
            if wait:
                report.task = _wait_for_task(sqs, task["SourceArn"], task["TaskHandle"], poll, progress)
            return report
    copier = Copier(
        sqs=sqs, dlq_url=dlq_url, queue_url=queue_url, limiter=limiter or RateLimiter(max_per_second or None)
    )
    with DeadLetterScan(sqs=sqs, queue_url=dlq_url, hold_seconds=hold_seconds, wait_seconds=wait_seconds) as scan:
        for batch in scan:
            selected = []
            for message in batch:
                room = limit is None or sum(report.selected.values()) < limit
                if room and (codes is None or message.code in codes):
                    report.selected[message.code] += 1
                    selected.append(message)
                else:
                    report.kept[message.code] += 1
            if not dry_run and selected:
                outcome = copier.move(selected)
                scan.deleted(outcome.moved)
                report.outcome.extend(outcome)
            if limit is not None and sum(report.selected.values()) >= limit:
                report.stopped = f"--limit {limit} reached"
                break
        report.stopped = report.stopped or scan.stopped
        report.partial = scan.partial
    report.released_failures += scan.release_failures
    return report


def _move_task_allowed(
    sqs: SQSClient, report: MoveReport, *, checked: bool, hold_seconds: int, wait_seconds: int
) -> bool:
    """Whether redrive may use a move task; notes why not, or (on a dry run) that it would.

    ``checked``: read the DLQ for a hazard first (``Method.AUTO``); ``Method.MOVE_TASK`` was asked for and is not
    second-guessed.
    """
    verb = "would copy" if report.dry_run else "copied"
    if checked:
        hazard, report.released_failures = _move_task_hazard(
            sqs, report.dlq_url, hold_seconds=hold_seconds, wait_seconds=wait_seconds
        )
        if hazard is not None:
            report.notes.append(
                f"no message move task: {hazard}. A move task gives every message a new message id, from which the "
                "ingest Lambda would derive a new eventId for an event without one, so an event Personalize already "
                f"took would count twice; {verb} the messages instead, each with SourceMessageId"
            )
            return False
    if report.dry_run:
        report.notes.append(
            ("every message carries SourceMessageId: " if checked else "")
            + "would start an SQS message move task (StartMessageMoveTask)"
            + (", or copy the messages if SQS refuses" if checked else "")
        )
    return True


def _move_task_hazard(sqs: SQSClient, dlq_url: str, *, hold_seconds: int, wait_seconds: int) -> tuple[str | None, int]:
    """Why a move task must not move this DLQ's messages, or None when it may; and the releases that failed.

    It may only when every message carries ``SourceMessageId``: the Lambda derives a missing eventId from it, and
    a move task replaces the message id that would otherwise stand in for it. A message this pass cannot see (in
    flight with another reader, behind a held one in a FIFO group, past the in-flight limit) cannot be vouched
    for, so anything short of a full pass counts as a hazard too; copying is always safe. The pass stops at the
    first message without SourceMessageId, and releases what it read (visible again at once) before returning.
    """
    in_flight = _approximate_counts(sqs, dlq_url)["inFlight"]
    if in_flight:
        return (
            f"about {in_flight} message(s) of the DLQ are in flight (held by another reader) and cannot be checked",
            0,
        )
    hazard: str | None = None
    with DeadLetterScan(sqs=sqs, queue_url=dlq_url, hold_seconds=hold_seconds, wait_seconds=wait_seconds) as scan:
        for batch in scan:
            unnamed = next((message for message in batch if message.source_message_id is None), None)
            if unnamed is not None:
                hazard = (
                    f"message {unnamed.message_id} ({unnamed.code}) has no SourceMessageId "
                    "(the ingest queue's redrive policy moved it)"
                )
                break
        else:
            if scan.stopped:
                hazard = f"not every message could be checked for SourceMessageId ({scan.stopped})"
    return hazard, scan.release_failures


def _start_move_task(
    sqs: SQSClient,
    dlq_url: str,
    queue_url: str,
    max_per_second: float | None,
    report: MoveReport,
    *,
    required: bool,
) -> dict[str, Any] | None:
    """Start an SQS message move task; None (with a note) when SQS refuses and the copy path may take over."""
    source_arn = _queue_arn(sqs, dlq_url)
    try:
        running = [
            task
            for task in sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=10).get("Results", [])
            if task.get("Status") == "RUNNING"
        ]
    except (ClientError, BotoCoreError):
        running = []  # no way to tell; StartMessageMoveTask itself refuses a second task
    if running:
        raise DlqToolError(
            f"a message move task is already running on this DLQ (TaskHandle {running[0].get('TaskHandle')}): "
            "wait for it, or cancel it with `aws sqs cancel-message-move-task`"
        )
    request: dict[str, Any] = {"SourceArn": source_arn, "DestinationArn": _queue_arn(sqs, queue_url)}
    if max_per_second:
        # Rounded down, not to the nearest: --max-per-second is a ceiling (2.7 must not become 3). Below 1 there is
        # no whole number under it that SQS takes (0 would mean "no limit" to this tool), so it becomes 1.
        rate = max(1, min(MOVE_TASK_MAX_RATE, math.floor(max_per_second)))
        if rate != max_per_second:
            how = (
                f"capped at {MOVE_TASK_MAX_RATE}"
                if max_per_second > MOVE_TASK_MAX_RATE
                else "raised to 1"
                if max_per_second < 1
                else f"rounded down to {rate}"
            )
            report.notes.append(
                f"move task rate {how} messages/s (--max-per-second {max_per_second:g}; SQS takes whole numbers "
                f"from 1 to {MOVE_TASK_MAX_RATE})"
            )
        request["MaxNumberOfMessagesPerSecond"] = rate
    try:
        handle = sqs.start_message_move_task(**request)["TaskHandle"]
    except (ClientError, BotoCoreError) as exc:
        if required:
            raise DlqToolError(f"SQS refused StartMessageMoveTask: {_describe(exc)}") from None
        report.notes.append(
            f"SQS could not start a message move task ({_describe(exc)}); copied the messages one by one instead"
        )
        return None
    return {**request, "TaskHandle": handle, "Status": "RUNNING"}


def _wait_for_task(
    sqs: SQSClient,
    source_arn: str,
    handle: str,
    poll: Callable[[float], None],
    progress: Callable[[Mapping[str, Any]], None],
) -> dict[str, Any]:
    while True:
        tasks = sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=10).get("Results", [])
        # ListMessageMoveTasks lists the most recent tasks (up to 10); ours drops out only if others started since.
        unknown: dict[str, Any] = {"TaskHandle": handle, "SourceArn": source_arn, "Status": "UNKNOWN"}
        task: dict[str, Any] = next((dict(t) for t in tasks if t.get("TaskHandle") == handle), unknown)
        progress(task)
        if task.get("Status") in _MOVE_TASK_DONE or task.get("Status") == "UNKNOWN":
            return task
        poll(MOVE_TASK_POLL_SECONDS)


# --- replay --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a dead letter passes validation now, and if not, the code and reason it would get now."""

    passes: bool
    code: str | None = None
    reason: str = ""


class Revalidator:
    """Runs a dead letter's body through the ingest Lambda's own decode and validate, against today's schemas.

    The schema of a kind comes from Personalize (DescribeDataset → DescribeSchema) through the Lambda's own
    ``DatasetCatalog``, for the dataset ARNs in ``settings`` (Contract 2). A kind without a dataset, or an event
    kind without a tracking id, is still ``DatasetNotConfigured``, as the Lambda would decide.

    Parameters
    ----------
    settings
        The Contract 2 settings the deployed Lambda runs with (at least its dataset ARNs).
    catalog
        Reads and caches schemas.
    apis
        The Put* API models (botocore's); the Lambda's own by default.
    """

    def __init__(
        self, *, settings: Settings, catalog: DatasetCatalog, apis: Mapping[str, ApiModel] | None = None
    ) -> None:
        self._settings = settings
        self._catalog = catalog
        self._apis = apis or api_models()
        self._schemas: dict[str, DatasetSchema | Verdict] = {}

    def check(self, message: DeadLetterMessage) -> Verdict:
        """Validate ``message`` as the Lambda would now."""
        try:
            change = decode(message.as_ingest_message())
            schema = self._schema(change.kind)
            if isinstance(schema, Verdict):
                return schema
            validate(change, self._apis[change.kind.name], schema)
        except RejectedRecord as rejection:
            return Verdict(passes=False, code=str(rejection.code), reason=rejection.message)
        except Exception as exc:  # one body the Lambda's code chokes on must not stop the replay: it stays put
            return Verdict(passes=False, code=type(exc).__name__, reason="the ingest code failed on this message")
        return Verdict(passes=True)

    def _schema(self, kind: Kind) -> DatasetSchema | Verdict:
        # What the Lambda's pipeline decides per kind (ingest.pipeline, _Batch._resolve), once per run.
        if kind.name not in self._schemas:
            self._schemas[kind.name] = self._resolve(kind)
        return self._schemas[kind.name]

    def _resolve(self, kind: Kind) -> DatasetSchema | Verdict:
        dataset = self._settings.datasets.get(kind.name)
        if dataset is None:
            return Verdict(False, str(ErrorCode.DATASET_NOT_CONFIGURED), f"{kind.name}: {kind.dataset_env} is not set")
        try:
            info = self._catalog.describe(kind, dataset)
        except Exception as exc:  # any failure to read the schema means "cannot tell": the message stays put
            failure = classify(exc)
            return Verdict(False, failure.error_code, f"cannot read the {kind.name} schema: {failure.message}")
        if not (self._settings.targets.get(kind.name) or info.tracking_id):
            return Verdict(False, str(ErrorCode.DATASET_NOT_CONFIGURED), f"{kind.name}: {kind.target_env} is not set")
        return info.schema


def replay_settings(
    *, dlq_url: str, dataset_arns: Mapping[str, str], tracking_ids: Mapping[str, str], env: Mapping[str, str]
) -> Settings:
    """The Contract 2 settings replay validates with: the environment's variables, overridden by the flags.

    Parameters
    ----------
    dlq_url
        The DLQ (Contract 2 requires one).
    dataset_arns, tracking_ids
        Kind name (``item``, ``event``, ...) → dataset ARN / tracking id, from ``--dataset-arn`` / ``--tracking-id``.
    env
        The process environment: ``ITEMS_DATASET_ARN``, ``EVENT_TRACKING_ID``... as the Lambda reads them.
    """
    values = {
        name: env[name]
        for kind in KINDS.values()
        for name in (kind.dataset_env, kind.target_env)
        if env.get(name, "").strip()
    }
    for kind_name, arn in dataset_arns.items():
        values[KINDS[kind_name].dataset_env] = arn
    for kind_name, tracking_id in tracking_ids.items():
        values[KINDS[kind_name].target_env] = tracking_id
    values[DEAD_LETTER_QUEUE_URL] = dlq_url
    return Settings.from_env(values)


def replay(
    *,
    sqs: SQSClient,
    dlq_url: str,
    queue_url: str,
    revalidator: Revalidator,
    codes: frozenset[str] | None = None,
    dry_run: bool = False,
    max_per_second: float | None = DEFAULT_MAX_PER_SECOND,
    limit: int | None = None,
    samples: int = DEFAULT_SAMPLES,
    hold_seconds: int = DEFAULT_HOLD_SECONDS,
    wait_seconds: int = DEFAULT_WAIT_SECONDS,
    limiter: RateLimiter | None = None,
) -> MoveReport:
    """Send back the validation failures that pass validation now; leave the others in the DLQ, untouched.

    Parameters
    ----------
    sqs
        An SQS client.
    dlq_url, queue_url
        From where, to where.
    revalidator
        Decides, message by message, with the Lambda's own code.
    codes
        The codes to re-validate, a subset of :data:`REPLAYABLE` (all three when None).
    dry_run
        Re-validate and report; send and delete nothing.
    max_per_second, limit, hold_seconds, wait_seconds, limiter
        As for :func:`redrive`.
    samples
        Still-failing messages listed in the report (ids, codes and reasons only).

    Raises
    ------
    DlqToolError
        The queues are the same, or a code is not replayable.
    """
    _check_queues(dlq_url, queue_url)
    wanted = codes if codes is not None else frozenset(REPLAYABLE)
    not_replayable = sorted(wanted - set(REPLAYABLE))
    if not_replayable:
        raise DlqToolError(
            f"replay re-validates {', '.join(REPLAYABLE)} only, not {', '.join(not_replayable)}: use redrive for those"
        )
    report = MoveReport(dlq_url=dlq_url, queue_url=queue_url, dry_run=dry_run, method=str(Method.COPY))
    copier = Copier(
        sqs=sqs, dlq_url=dlq_url, queue_url=queue_url, limiter=limiter or RateLimiter(max_per_second or None)
    )
    with DeadLetterScan(sqs=sqs, queue_url=dlq_url, hold_seconds=hold_seconds, wait_seconds=wait_seconds) as scan:
        for batch in scan:
            passing = []
            for message in batch:
                if message.code not in wanted or (limit is not None and sum(report.selected.values()) >= limit):
                    report.kept[message.code] += 1
                    continue
                verdict = revalidator.check(message)
                if verdict.passes:
                    report.selected[message.code] += 1
                    passing.append(message)
                    continue
                report.kept[message.code] += 1
                if len(report.still_failing) < samples:
                    report.still_failing.append(
                        {
                            "messageId": message.message_id,
                            "sourceMessageId": message.source_message_id,
                            "was": message.code,
                            "now": verdict.code,
                            "reason": verdict.reason,
                        }
                    )
            if not dry_run and passing:
                outcome = copier.move(passing)
                scan.deleted(outcome.moved)
                report.outcome.extend(outcome)
            if limit is not None and sum(report.selected.values()) >= limit:
                report.stopped = f"--limit {limit} reached"
                break
        report.stopped = report.stopped or scan.stopped
        report.partial = scan.partial
    report.released_failures = scan.release_failures
    return report


# --- helpers -------------------------------------------------------------------------------------------------------


def _unfinished(*, stopped: str | None, partial: bool, released_failures: int) -> list[str]:
    """What a pass over the DLQ left undone, for :attr:`MoveReport.unfinished` and :attr:`InspectReport.unfinished`."""
    reasons = []
    if partial and stopped:
        reasons.append(f"the pass did not reach every message: {stopped}")
    if released_failures:
        reasons.append(
            f"{released_failures} message(s) could not be made visible again: they stay hidden until --hold-seconds "
            "end, and a run before then does not see them"
        )
    return reasons


def _check_queues(dlq_url: str, queue_url: str) -> None:
    if dlq_url.rstrip("/") == queue_url.rstrip("/"):
        raise DlqToolError("--queue-url is the DLQ itself: messages would go round in circles")


def _queue_arn(sqs: SQSClient, queue_url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _approximate_counts(sqs: SQSClient, queue_url: str) -> dict[str, int]:
    names: dict[QueueAttributeNameType, str] = {
        "ApproximateNumberOfMessages": "waiting",
        "ApproximateNumberOfMessagesNotVisible": "inFlight",
        "ApproximateNumberOfMessagesDelayed": "delayed",
    }
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(names))["Attributes"]
    return {label: int(str(attributes.get(name, 0))) for name, label in names.items()}


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Unknown')}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


def _failure(message: DeadLetterMessage, reason: str) -> dict[str, Any]:
    return {"messageId": message.message_id, "code": message.code, "reason": reason}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z") if moment else None


# --- command line --------------------------------------------------------------------------------------------------


def _codes(text: str) -> frozenset[str]:
    canonical = {code.lower(): code for code in KNOWN_CODES}
    codes = set()
    for raw in filter(None, (part.strip() for part in text.split(","))):
        if raw.lower() not in canonical:
            raise argparse.ArgumentTypeError(f"unknown error code {raw!r}; known: {', '.join(KNOWN_CODES)}")
        codes.add(canonical[raw.lower()])
    if not codes:
        raise argparse.ArgumentTypeError("give at least one error code")
    return frozenset(codes)


def _kind_value(text: str) -> tuple[str, str]:
    kind, separator, value = text.partition("=")
    if not separator or not value.strip():
        raise argparse.ArgumentTypeError(f"expected KIND=VALUE, got {text!r}")
    if kind not in KINDS:
        raise argparse.ArgumentTypeError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    return kind, value.strip()


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(text)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _hold_seconds(text: str) -> int:
    seconds = _positive_int(text)
    if seconds > MAX_VISIBILITY_TIMEOUT:
        raise argparse.ArgumentTypeError(f"SQS hides a message for at most {MAX_VISIBILITY_TIMEOUT} s, got {text}")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m tools.dlq`` command line."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dlq-url", required=True, help="the dead-letter queue (stack output DeadLetterQueueUrl)")
    common.add_argument("--region", help="AWS region (default: the AWS SDK's: AWS_REGION, profile...)")
    common.add_argument(
        "--endpoint-url", help="SQS endpoint, for a local stand-in (default: AWS_ENDPOINT_URL_SQS, else AWS)"
    )
    common.add_argument("--json", action="store_true", help="print the report as JSON")
    common.add_argument(
        "--hold-seconds",
        type=_hold_seconds,
        default=DEFAULT_HOLD_SECONDS,
        help="how long a read message stays hidden during the pass (default %(default)s)",
    )
    common.add_argument(
        "--wait-seconds",
        type=int,
        choices=range(21),
        default=DEFAULT_WAIT_SECONDS,
        metavar="0..20",
        help="long polling per receive (default %(default)s)",
    )
    common.add_argument("--limit", type=_positive_int, help="read (inspect) or move (redrive, replay) at most N")

    moving = argparse.ArgumentParser(add_help=False)
    moving.add_argument("--queue-url", required=True, help="the ingest queue (stack output IngestQueueUrl)")
    moving.add_argument("--dry-run", action="store_true", help="report what would move; send and delete nothing")
    moving.add_argument(
        "--max-per-second",
        type=_non_negative,
        default=DEFAULT_MAX_PER_SECOND,
        help="average messages moved per second; 0 for no limit (default %(default)s)",
    )

    parser = argparse.ArgumentParser(
        prog="python -m tools.dlq",
        description="Inspect, redrive and replay the Personalize ingest pipeline's dead-letter queue.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    inspect_cmd = commands.add_parser(
        "inspect",
        parents=[common],
        help="counts by ErrorCode and Api, oldest and newest, samples of ids and error messages",
        description="Read the DLQ once through (every message is visible again afterwards) and summarise it. "
        f"Messages without ErrorCode are shown as {REDRIVE_POLICY}: {REDRIVE_POLICY_MEANING}. A message's Api is "
        "the one it failed in (its Api attribute) or, when it failed before a call, the one its kind is written "
        "with. Samples show record ids and error messages; bodies (property values) only with --show-bodies.",
    )
    inspect_cmd.add_argument(
        "--samples", type=_non_negative_int, default=DEFAULT_SAMPLES, help="examples per code (default %(default)s)"
    )
    inspect_cmd.add_argument(
        "--show-bodies", action="store_true", help="include the samples' bodies (property values: personal data?)"
    )

    redrive_cmd = commands.add_parser(
        "redrive",
        parents=[common, moving],
        help="move messages back to the ingest queue, all or those of given codes",
        description="Move messages back to the ingest queue. Without --codes or --limit, the tool first reads the "
        "DLQ: when every message carries SourceMessageId, SQS's StartMessageMoveTask moves them, at --max-per-second "
        "(falling back to copying when SQS refuses). A move task gives each message a new message id, so when a "
        f"message has no SourceMessageId ({REDRIVE_POLICY}: the redrive policy moved it), the tool copies instead "
        "and says so. Otherwise each message is copied (body unchanged, the ErrorCode/ErrorMessage/Api attributes "
        "dropped, SourceMessageId kept, or set to the message's own id when the redrive policy moved it) and "
        "deleted from the DLQ only after the copy is confirmed. Messages not selected stay in the DLQ, visible "
        "again at the end.",
    )
    redrive_cmd.add_argument(
        "--codes",
        type=_codes,
        help=f"comma-separated ErrorCodes to move ({', '.join(KNOWN_CODES)}); default: every message",
    )
    redrive_cmd.add_argument(
        "--method",
        type=Method,
        choices=list(Method),
        default=Method.AUTO,
        help="auto: a move task when it is safe, else copy; move-task: a move task without checking "
        "SourceMessageId (every message, no --codes or --limit); copy: always copy (default %(default)s)",
    )
    redrive_cmd.add_argument("--wait", action="store_true", help="after starting a move task, wait until it is done")

    replay_cmd = commands.add_parser(
        "replay",
        parents=[common, moving],
        help="re-validate validation failures against today's schema; send back those that pass",
        description="For messages dead-lettered as " + ", ".join(REPLAYABLE) + ": validate each again with the "
        "ingest Lambda's own code against the schema Personalize holds now (DescribeDataset, DescribeSchema) and "
        "send back only those that pass. The rest stay in the DLQ untouched. Dataset ARNs and tracking ids come "
        "from --dataset-arn / --tracking-id, else from the ingest function's environment (--function-name), else "
        "from this shell's (ITEMS_DATASET_ARN, EVENT_TRACKING_ID, ...). InvalidInput records passed these checks "
        "before Personalize refused them: they pass again, and Personalize is the judge; one it still refuses "
        "comes back to the DLQ as InvalidInput.",
    )
    replay_cmd.add_argument("--codes", type=_codes, help=f"a subset of {', '.join(REPLAYABLE)} (default: all three)")
    replay_cmd.add_argument(
        "--function-name",
        help="the ingest Lambda (stack output IngestFunctionName): validate for the datasets and trackers in its "
        "environment (lambda:GetFunctionConfiguration); default: this shell's environment",
    )
    replay_cmd.add_argument(
        "--dataset-arn",
        type=_kind_value,
        action="append",
        default=[],
        metavar="KIND=ARN",
        help=f"the dataset of a kind ({', '.join(KINDS)}), over the function's; repeatable",
    )
    replay_cmd.add_argument(
        "--tracking-id",
        type=_kind_value,
        action="append",
        default=[],
        metavar="KIND=ID",
        help="the event tracker of event / actionInteraction; repeatable",
    )
    replay_cmd.add_argument(
        "--personalize-endpoint-url",
        help="Personalize endpoint, for a local stand-in (default: AWS_ENDPOINT_URL_PERSONALIZE, else AWS)",
    )
    replay_cmd.add_argument(
        "--samples", type=_non_negative_int, default=DEFAULT_SAMPLES, help="still-failing messages listed"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; its exit status.

    :data:`EXIT_OK` (0) when everything selected was handled; :data:`EXIT_FAILED` (1) when something failed or the
    run could not start; :data:`EXIT_USAGE` (2) on a usage error (argparse); :data:`EXIT_UNFINISHED` (3) when
    nothing failed but the run did not reach everything (see :attr:`MoveReport.unfinished`): run it again.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_usage(parser, args)
    # The queue's own region first: a client of another region cannot reach it. A local stand-in's URL names none.
    session = boto3.session.Session(region_name=args.region or region_of_queue_url(args.dlq_url))
    try:
        sqs: SQSClient = session.client("sqs", endpoint_url=args.endpoint_url, config=_CLIENT_CONFIG)
        if args.command == "inspect":
            inspected = inspect(
                sqs=sqs,
                dlq_url=args.dlq_url,
                samples=args.samples,
                show_bodies=args.show_bodies,
                limit=args.limit,
                hold_seconds=args.hold_seconds,
                wait_seconds=args.wait_seconds,
            )
            print(json.dumps(inspected.to_dict(), indent=2) if args.json else render_inspect(inspected))
            return inspected.exit_status
        if args.command == "redrive":
            report = redrive(
                sqs=sqs,
                dlq_url=args.dlq_url,
                queue_url=args.queue_url,
                codes=args.codes,
                method=args.method,
                dry_run=args.dry_run,
                max_per_second=args.max_per_second,
                limit=args.limit,
                wait=args.wait,
                hold_seconds=args.hold_seconds,
                wait_seconds=args.wait_seconds,
                progress=_print_progress,
            )
        else:
            environment: Mapping[str, str] = (
                function_environment(session.client("lambda", config=_CLIENT_CONFIG), args.function_name)
                if args.function_name
                else os.environ
            )
            settings = replay_settings(
                dlq_url=args.dlq_url,
                dataset_arns=dict(args.dataset_arn),
                tracking_ids=dict(args.tracking_id),
                env=environment,
            )
            personalize = session.client(
                "personalize", endpoint_url=args.personalize_endpoint_url, config=_CLIENT_CONFIG
            )
            report = replay(
                sqs=sqs,
                dlq_url=args.dlq_url,
                queue_url=args.queue_url,
                revalidator=Revalidator(settings=settings, catalog=DatasetCatalog(client=personalize)),
                codes=args.codes,
                dry_run=args.dry_run,
                max_per_second=args.max_per_second,
                limit=args.limit,
                samples=args.samples,
                hold_seconds=args.hold_seconds,
                wait_seconds=args.wait_seconds,
            )
    except DlqToolError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except NoRegionError:
        print("error: no AWS region: pass --region, or set AWS_REGION (or a profile's region)", file=sys.stderr)
        return 1
    except NoCredentialsError:
        print("error: no AWS credentials (environment, AWS_PROFILE, SSO or an instance role)", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as error:
        print(f"error: AWS refused a call: {_describe(error)}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_dict(), indent=2) if args.json else render_move(report, command=args.command))
    return report.exit_status


def _check_usage(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, with exit status 2 (``parser.error``), combinations no run could carry out, before any AWS call.

    The library functions refuse them too (DlqToolError), for callers that skip the command line.
    """
    if args.command == "inspect":
        return
    if args.dlq_url.rstrip("/") == args.queue_url.rstrip("/"):
        parser.error("--queue-url is the DLQ itself: messages would go round in circles")
    if args.command == "redrive":
        if args.method is Method.MOVE_TASK and (args.codes is not None or args.limit is not None):
            parser.error("--method move-task moves every message: it cannot be combined with --codes or --limit")
        return
    not_replayable = sorted(set(args.codes or ()) - set(REPLAYABLE))
    if not_replayable:
        parser.error(
            f"replay re-validates {', '.join(REPLAYABLE)} only, not {', '.join(not_replayable)}: use redrive for those"
        )
    if any(KINDS[kind].target_field != "trackingId" for kind, _ in args.tracking_id):
        parser.error("--tracking-id applies to event and actionInteraction only")


def region_of_queue_url(queue_url: str) -> str | None:
    """The region an AWS queue URL names (``https://sqs.eu-west-1.amazonaws.com/...``); None for any other URL."""
    match = _QUEUE_URL_REGION.match(queue_url)
    return (match["region"] or match["legacy"]) if match else None


def function_environment(lambda_client: Any, function_name: str) -> dict[str, str]:
    """The environment variables the deployed ingest function runs with (Contract 2): GetFunctionConfiguration.

    Raises
    ------
    DlqToolError
        Lambda cannot show the variables (their KMS key refused), or the function has no dataset variable: it is
        not the ingest function.
    """
    environment = lambda_client.get_function_configuration(FunctionName=function_name).get("Environment") or {}
    if "Error" in environment:
        error = environment["Error"]
        raise DlqToolError(
            f"Lambda cannot show {function_name}'s environment: {error.get('ErrorCode')}: {error.get('Message')}"
        )
    variables = {str(name): str(value) for name, value in (environment.get("Variables") or {}).items()}
    if not any(kind.dataset_env in variables for kind in KINDS.values()):
        expected = ", ".join(sorted({kind.dataset_env for kind in KINDS.values()}))
        raise DlqToolError(f"{function_name} has none of {expected}: is it the ingest function (IngestFunctionName)?")
    return variables


# --- text output -----------------------------------------------------------------------------------------------------


def _print_progress(task: Mapping[str, Any]) -> None:
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
        apis = ", ".join(f"{api} {count}" for api, count in sorted(summary["byApi"].items()))
        lines.append(f"  {code}: {summary['count']}  (oldest {summary['oldest']}, newest {summary['newest']}; {apis})")
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
    lines.append("")
    lines.append("By API: " + ", ".join(f"{api} {count}" for api, count in sorted(data["byApi"].items())))
    lines += _unfinished_lines(report.unfinished, consequence=_INSPECT_UNFINISHED)
    return "\n".join(lines)


def render_move(report: MoveReport, *, command: str) -> str:
    """The redrive or replay report for a person."""
    head = "DRY RUN, nothing sent or deleted: " if report.dry_run else ""
    lines = [f"{head}{command} {report.dlq_url} -> {report.queue_url} ({report.method})"]
    lines += [f"  note: {note}" for note in report.notes]
    if report.task is not None:
        task = report.task
        lines.append(f"  SQS message move task {task.get('TaskHandle')}: {task.get('Status')}")
        if "ApproximateNumberOfMessagesMoved" in task:
            lines.append(
                f"  moved {task['ApproximateNumberOfMessagesMoved']} of "
                f"{task.get('ApproximateNumberOfMessagesToMove', '?')}"
            )
        if task.get("FailureReason"):
            lines.append(f"  failure: {task['FailureReason']}")
        if task.get("Status") == "RUNNING":
            lines.append(f"  follow it: aws sqs list-message-move-tasks --source-arn {task.get('SourceArn')}")
        lines += _unfinished_lines(report.unfinished, consequence=_move_unfinished(report))
        return "\n".join(lines)
    verb = "would move" if report.dry_run else "selected"
    lines.append(f"  {verb}: {_counts(report.selected)}")
    if not report.dry_run:
        lines.append(f"  moved: {len(report.outcome.moved)}")
    lines.append(f"  left in the DLQ: {_counts(report.kept)}")
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
    lines += _unfinished_lines(report.unfinished, consequence=_move_unfinished(report))
    return "\n".join(lines)


# An inspect run again holds the same messages and stops at the same place: for it, "unfinished" is a warning
# about the counts.
_INSPECT_UNFINISHED: Final = f"The counts above do not cover the whole queue (exit status {EXIT_UNFINISHED})."


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


if __name__ == "__main__":
    sys.exit(main())
