"""The dead-letter queue writer (DESIGN.md Contract 3).

A poison record goes to the DLQ with its original body unchanged and the attributes ``ErrorCode``,
``ErrorMessage``, ``SourceMessageId`` and, where a call was made, ``Api``. A message counts as dead-lettered
only once SQS confirmed its entry; anything else is reported back so the caller keeps the message in the queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ingest.decode import Message
from ingest.errors import ErrorCode

# SQS: 10 entries and 256 KiB per SendMessageBatch; a message attribute value counts towards the size.
MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 256 * 1024
MAX_ERROR_MESSAGE = 1_000
ATTRIBUTE = "String"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message bound for the DLQ, with the reason."""

    message: Message
    code: ErrorCode
    reason: str
    api: str | None = None

    def attributes(self) -> dict[str, dict[str, str]]:
        """The SQS message attributes of Contract 3."""
        values = {
            "ErrorCode": str(self.code),
            "ErrorMessage": (self.reason or "(no message)")[:MAX_ERROR_MESSAGE],
            # A message dead-lettered again after a redrive still names the message first published.
            "SourceMessageId": self.message.origin_id,
        }
        if self.api:
            values["Api"] = self.api
        return {name: {"DataType": ATTRIBUTE, "StringValue": value} for name, value in values.items()}

    def size(self) -> int:
        """Bytes this entry counts towards the batch limit (body plus attribute names, types and values)."""
        attributes = sum(len(n) + len(ATTRIBUTE) + len(v["StringValue"].encode()) for n, v in self.attributes().items())
        return len(self.message.body.encode()) + attributes


class DeadLetterQueue:
    """Writes dead letters with SendMessageBatch, packed by count and size."""

    def __init__(self, *, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url
        # A FIFO DLQ needs a group and a deduplication id; the source message id makes retries idempotent.
        self._fifo = queue_url.endswith(".fifo")

    def send(self, letters: Sequence[DeadLetter]) -> set[str]:
        """Write ``letters``; return the message ids that could NOT be written (the caller must not ack them)."""
        failed: set[str] = set()
        for batch in _pack(letters):
            entries = [self._entry(index, letter) for index, letter in enumerate(batch)]
            try:
                response = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            except (ClientError, BotoCoreError):
                failed.update(letter.message.message_id for letter in batch)
                continue
            for entry in response.get("Failed", []):
                failed.add(batch[int(entry["Id"])].message.message_id)
            written = {int(entry["Id"]) for entry in response.get("Successful", [])}
            # Anything SQS neither confirmed nor refused is unaccounted for: treat it as not written.
            failed.update(letter.message.message_id for i, letter in enumerate(batch) if i not in written)
        return failed

    def _entry(self, index: int, letter: DeadLetter) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "Id": str(index),
            "MessageBody": letter.message.body,
            "MessageAttributes": letter.attributes(),
        }
        if self._fifo:
            entry["MessageGroupId"] = letter.message.group_id or "dead-letter"
            entry["MessageDeduplicationId"] = letter.message.message_id
        return entry


def _pack(letters: Iterable[DeadLetter]) -> list[list[DeadLetter]]:
    batches: list[list[DeadLetter]] = []
    current: list[DeadLetter] = []
    current_bytes = 0
    for letter in letters:
        size = letter.size()
        if current and (len(current) == MAX_BATCH_ENTRIES or current_bytes + size > MAX_BATCH_BYTES):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(letter)
        current_bytes += size
    if current:
        batches.append(current)
    return batches
