"""The dead-letter queue writer (docs/contracts.md §3).

A poison record goes to the DLQ with its original body unchanged and the attributes ``ErrorCode``,
``ErrorMessage``, ``SourceMessageId`` and ``PersonalizeIngest.SourceMessageId`` (the same id: the second is the
one the pipeline trusts) and, where a call was made, ``Api``. A message counts as dead-lettered only once SQS
confirmed its entry; anything else is reported back so the caller keeps the message in the queue. No single
letter can make ``send`` raise: a reason SQS could not take is replaced by one it can.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from contract import (
    API_ATTRIBUTE,
    ERROR_CODE_ATTRIBUTE,
    ERROR_MESSAGE_ATTRIBUTE,
    ORIGIN_MESSAGE_ID_ATTRIBUTE,
    SOURCE_MESSAGE_ID_ATTRIBUTE,
    ErrorCode,
)
from ingest.clients import client_within, time_bound
from ingest.decode import Message

# SQS: 10 entries and 256 KiB per SendMessageBatch; a message attribute value counts towards the size.
MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 256 * 1024
MAX_ERROR_MESSAGE = 1_000
ATTRIBUTE = "String"
# Characters SQS refuses in a message attribute's value (as in a body): a lone surrogate above all, which a reason
# may quote from a key the publisher sent, and which no UTF-8 encoder accepts.
_NOT_SQS_TEXT = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# The reason a letter gets when its own could not be written: the code still says what to do.
UNWRITABLE_REASON = "the reason could not be written to the dead letter (it held characters SQS refuses)"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message bound for the DLQ, with the reason."""

    message: Message
    code: ErrorCode
    reason: str
    api: str | None = None

    def attributes(self) -> dict[str, dict[str, str]]:
        """The SQS message attributes of docs/contracts.md §3."""
        values = {
            ERROR_CODE_ATTRIBUTE: str(self.code),
            ERROR_MESSAGE_ATTRIBUTE: sqs_text(self.reason or "(no message)")[:MAX_ERROR_MESSAGE],
            # A message dead-lettered again after a redrive still names the message first published: under the
            # name on-call reads, and under the pipeline's own, which is what a copy sent back is trusted by.
            SOURCE_MESSAGE_ID_ATTRIBUTE: self.message.origin_id,
            ORIGIN_MESSAGE_ID_ATTRIBUTE: self.message.origin_id,
        }
        if self.api:
            values[API_ATTRIBUTE] = self.api
        return {name: {"DataType": ATTRIBUTE, "StringValue": value} for name, value in values.items()}

    def size(self) -> int:
        """Bytes this entry counts towards the batch limit (body plus attribute names, types and values).

        Never raises: a string no UTF-8 encoder takes (SQS refuses it anyway) is counted as its escapes would be.
        """
        attributes = sum(len(n) + len(ATTRIBUTE) + _utf8_size(v["StringValue"]) for n, v in self.attributes().items())
        return _utf8_size(self.message.body) + attributes


def sqs_text(text: str) -> str:
    """``text`` with every character SQS refuses in a message attribute replaced by U+FFFD."""
    return _NOT_SQS_TEXT.sub("\ufffd", text)


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


class DeadLetterWriter(Protocol):
    """Writes dead letters; returns the message ids it could not write (``DeadLetterQueue`` is the real one)."""

    def send(self, letters: Sequence[DeadLetter], *, time_left_s: float | None = None) -> set[str]:
        """Write ``letters`` to the DLQ, starting no write that could end later than ``time_left_s`` from now."""


class DeadLetterQueue:
    """Writes dead letters with SendMessageBatch, packed by count and size.

    ``client`` is a ``ClientLadder`` of SQS clients (each write bounded by the time left) or one plain client.
    """

    def __init__(self, *, client: Any, queue_url: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._clients = time_bound(client)
        self._queue_url = queue_url
        self._clock = clock
        # A FIFO DLQ needs a group and a deduplication id; the source message id makes retries idempotent.
        self._fifo = queue_url.endswith(".fifo")

    def send(self, letters: Sequence[DeadLetter], *, time_left_s: float | None = None) -> set[str]:
        """Write ``letters``; return the message ids that could NOT be written (the caller must not ack them).

        With ``time_left_s``, no write starts that could end later than that from now: the invocation must answer
        before Lambda's timeout, and the letters left unwritten are simply reported back for redelivery.
        """
        failed: set[str] = set()
        deadline = None if time_left_s is None else self._clock() + time_left_s
        writable = []
        for letter in letters:
            checked = _writable(letter)
            if checked is None:
                failed.add(letter.message.message_id)
            else:
                writable.append(checked)
        for batch in pack_batches(writable):
            entries = [self._entry(index, letter) for index, letter in enumerate(batch)]
            try:
                client = client_within(self._clients, None if deadline is None else deadline - self._clock())
                response = client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            except Exception:
                # SQS refused or did not answer in time (ClientError, BotoCoreError), no write fitted the time left
                # (OutOfTime), or anything else: the batch counts as unwritten, and the answer still goes out.
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


def _writable(letter: DeadLetter) -> DeadLetter | None:
    """``letter`` as it can be written: with a safe reason if its own cannot be built or sized, or None when even
    that fails (then it is reported unwritten, and SQS delivers the message again).

    Defence in depth: ``attributes`` already makes every reason text SQS accepts, but a dead letter is the last
    stop of a message, and one letter that raised would fail every letter of the batch.
    """
    for candidate in (letter, dataclasses.replace(letter, reason=UNWRITABLE_REASON)):
        try:
            candidate.size()
            return candidate
        except Exception:  # noqa: S112 - any failure to build one letter: try the safe reason, else report it
            continue
    return None


def pack_batches(letters: Iterable[DeadLetter]) -> list[list[DeadLetter]]:
    """``letters`` in SendMessageBatch-sized batches, in order: at most ``MAX_BATCH_ENTRIES`` entries and
    ``MAX_BATCH_BYTES`` (``DeadLetter.size``) each."""
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
