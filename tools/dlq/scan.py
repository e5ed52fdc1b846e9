"""Reading the DLQ once through: every message received once, held, and made visible again unless deleted."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Final

from botocore.exceptions import BotoCoreError, ClientError

from ingest.dead_letter import MAX_BATCH_ENTRIES
from tools.dlq.messages import DeadLetterMessage
from tools.dlq.sqs import MAX_RECEIVE_MESSAGES, approximate_counts, error_code

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import ChangeMessageVisibilityBatchRequestEntryTypeDef

# How long a read message stays hidden. Long enough for one pass over a large DLQ at the default pace; short
# enough that, should the tool die, the DLQ looks normal again within minutes.
DEFAULT_HOLD_SECONDS: Final = 300
DEFAULT_WAIT_SECONDS: Final = 1


def unseen_reason(counts: Mapping[str, int]) -> str | None:
    """Why a pass starting at these counts (:func:`~tools.dlq.sqs.approximate_counts`) cannot see every message.

    A message in flight when the pass begins is held by someone else: another reader, or an earlier run of this
    tool that crashed before it could release what it held (SQS shows them again when that run's hold ends). A
    delayed message is not visible yet. None when SQS counts neither.
    """
    parts = []
    if counts.get("inFlight"):
        parts.append(
            f"about {counts['inFlight']} message(s) were in flight when the pass began (held by another reader, or "
            "by an earlier run that stopped before releasing them: SQS shows them again when that hold ends)"
        )
    if counts.get("delayed"):
        parts.append(f"about {counts['delayed']} message(s) were delayed (not visible yet)")
    return "; ".join(parts) + ", and this pass could not see them" if parts else None


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
            received = self._receive()
            if received is None:
                return
            fresh = self._remember(received)
            if not fresh:
                self._stop_on_nothing_new(received)
                return
            yield fresh
        self.stopped = f"--limit {self._limit} reached"

    def _receive(self) -> list[DeadLetterMessage] | None:
        """One ReceiveMessage; None when SQS refused it because too many messages are in flight."""
        wanted = MAX_RECEIVE_MESSAGES if self._limit is None else min(MAX_RECEIVE_MESSAGES, self._limit - self.read)
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
            if "OverLimit" not in error_code(exc):
                raise
            # A standard queue allows 120,000 messages in flight (FIFO: 20,000), other readers' included. What to
            # do about it depends on the command (a redrive run again goes further: it deleted what it moved), so
            # the reasons here only say what happened; the reports add the remedy.
            self.stopped = (
                "SQS's limit of messages in flight was reached (120,000 on a standard queue, 20,000 on a "
                "FIFO queue, counting what other readers hold)"
            )
            self.partial = True
            return None
        return [DeadLetterMessage.from_sqs(raw) for raw in response.get("Messages", [])]

    def _remember(self, received: Sequence[DeadLetterMessage]) -> list[DeadLetterMessage]:
        """Hold ``received``; the ones not seen before."""
        fresh = []
        for message in received:
            self._held[message.message_id] = message  # the newest receipt handle is the one that works
            if message.message_id not in self._seen:
                self._seen.add(message.message_id)
                fresh.append(message)
        return fresh

    def _stop_on_nothing_new(self, received: Sequence[DeadLetterMessage]) -> None:
        """Say why a receive with nothing new ends the pass, if the queue may hold more than it showed."""
        if received:
            # Only messages read before came back: the pass took longer than --hold-seconds.
            self.stopped = "messages read earlier became visible again before the pass ended (raise --hold-seconds)"
        elif self._queue_url.endswith(".fifo"):
            self.stopped = self._fifo_blocked()
        self.partial = self.stopped is not None

    def _fifo_blocked(self) -> str | None:
        # A FIFO queue returns no later message of a group while an earlier one is held (in flight); a receive
        # returns at most 10 of a group at once. What is left visible now is waiting behind what this pass holds.
        left = approximate_counts(self._sqs, self._queue_url)["waiting"]
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
