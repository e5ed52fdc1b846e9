"""Step 2 of the spill: drain the paused queue into CSV parts with the ingest Lambda's own rules.

A drain invocation receives chunks of messages and settles each chunk before the next:

1. **The cut.** Only messages sent before the spill paused the mapping (``SentTimestamp`` ≤ ``cut_ms``) are
   drained. A later one is left untouched (it stays invisible for the receive's visibility timeout, and is made
   visible again when the drain ends): it goes through Put once the mapping resumes, after the import.
2. **Decode, validate, collapse** with ``ingest.decode``, ``ingest.validate`` and ``ingest.newest``, against each
   dataset's schema as Personalize holds it (``bulk.targets``). Poison is dead-lettered exactly as the handler
   writes it (``ingest.dead_letter``: the body unchanged, the same codes and attributes); a kind without a dataset
   is ``DatasetNotConfigured``. Of several changes to one item, action or user in a chunk only the newest is
   written; the older ones are superseded, and acknowledged, as the handler acknowledges them.
3. **Write, then delete.** The chunk's rows are written as one CSV part per dataset (``bulk.rows``: a row the
   import reads back), then its dead letters are sent, then its index (``spill.layout``), and only then are its
   messages deleted. A crash anywhere before the delete leaves every message of the chunk in the queue, to be
   drained again: a part written twice is harmless, as the compaction keeps one row per record and per message.
4. **What the Put path must carry.** A record valid for its API that a bulk CSV cannot carry (a line break in a
   value, an event without a userId its schema requires), and the interactions of a dataset whose rows do not yet
   reach an import job's minimum (``import_rules.min_records``), are not written: they are held while the drain
   runs and made visible when it ends, so the resumed mapping sends them through Put, in the stream's order.

The drain ends when two receives in a row bring no message from before the cut and no message is in flight but
those it holds (a chunk of a crashed invocation must come back first). A message an earlier invocation settled
(its index names it) but did not delete is deleted on sight, not written again. An invocation about to run out of
time returns ``more`` and the workflow invokes it again.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

import import_rules
from bulk.targets import Target
from ingest.dead_letter import DeadLetterWriter
from ingest.newest import age
from spill import layout
from spill.chunk import Chunk, ChunkSorter, Taken, message_of

RECEIVE_MAX: Final = 10


@dataclass(frozen=True, slots=True)
class DrainSettings:
    """How a drain invocation works; the defaults are the deployed ones.

    Attributes
    ----------
    cut_ms:
        Epoch milliseconds of the pause: later messages are left for the Put path.
    visibility_seconds:
        The receive's visibility timeout: longer than a chunk takes from receive to delete.
    chunk_messages:
        Messages settled together (one part per dataset, one index, one round of deletes).
    wait_seconds:
        Each receive's long poll (a long poll asks every SQS server, so an empty answer means empty).
    reserve_seconds:
        Time kept to settle the last chunk before the invocation's end.
    min_records:
        The fewest records an import job of (dataset type, mode) may hold (the service's; lowered by tests).
    """

    cut_ms: int
    visibility_seconds: int = 120
    chunk_messages: int = 1_000
    wait_seconds: int = 1
    reserve_seconds: float = 30.0
    min_records: Callable[[str, str], int] = import_rules.min_records


@dataclass(slots=True)
class DrainTally:
    """What one invocation did, in messages."""

    received: int = 0
    late: int = 0
    written: int = 0
    superseded: int = 0
    dead_lettered: int = 0
    left: int = 0
    resettled: int = 0
    chunks: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class Drainer:
    """Drains the queue into parts for one invocation (see the module's docstring); call :meth:`run` once."""

    def __init__(
        self,
        *,
        sqs: Any,
        s3: Any,
        dead_letters: DeadLetterWriter,
        queue_url: str,
        queue_arn: str,
        bucket: str,
        spill_id: str,
        targets: Mapping[str, Target],
        settings: DrainSettings,
        time_left: Callable[[], float],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sqs, self._s3, self._letters = sqs, s3, dead_letters
        self._queue_url, self._queue_arn, self._bucket = queue_url, queue_arn, bucket
        self._spill_id, self._targets, self._settings = spill_id, targets, settings
        self._time_left, self._clock = time_left, clock
        self.tally = DrainTally()
        self._position = 0
        self._late: list[Taken] = []
        self._progress: dict[str, int] = dict(layout.read_json(s3, bucket, layout.progress_key(spill_id)) or {})
        # Messages an earlier invocation settled (their index exists) but may not have deleted: deleted on sight.
        self._settled = settled_ids(s3, bucket, spill_id)
        self._resettled: list[Taken] = []
        self._sorter = ChunkSorter(targets, settings.min_records, self._progress)

    def run(self) -> bool:
        """Drain until the queue holds nothing from before the cut (False) or time runs short (True: call again)."""
        more = self._loop()
        self.tally.left += len(self._sorter.holding)
        # Made visible again: what the Put path carries after the resume (or the next invocation takes again). A
        # crashed invocation releases nothing: its messages come back after the visibility timeout.
        self._release(self._late + self._sorter.holding)
        return more

    def _loop(self) -> bool:
        empty_receives = 0
        while self._time_left() > self._settings.reserve_seconds:
            taken, had_early = self._gather()
            self._settle(self._sorter.sort(taken))
            empty_receives = 0 if had_early else empty_receives + 1
            if empty_receives >= 2 and self._nothing_in_flight():
                return False
        return True

    def _nothing_in_flight(self) -> bool:
        """Whether no message is invisible but the ones this invocation holds: a chunk of a crashed invocation
        (received, maybe written, not deleted) must come back and be settled before the drain may end, or it
        would go through Put after the import, older than what the import holds."""
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        holding = len(self._late) + len(self._sorter.holding)
        return int(attributes.get("ApproximateNumberOfMessagesNotVisible", "0")) <= holding

    # --- receiving -----------------------------------------------------------------------------------------------

    def _gather(self) -> tuple[list[Taken], bool]:
        """Receive up to a chunk of messages from before the cut; also whether the last receive brought any."""
        taken: list[Taken] = []
        had_early = False
        while len(taken) < self._settings.chunk_messages:
            answer = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=RECEIVE_MAX,
                WaitTimeSeconds=self._settings.wait_seconds,
                VisibilityTimeout=self._settings.visibility_seconds,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            had_early = False
            for raw in answer.get("Messages", []):
                self._position += 1
                item = Taken(
                    str(raw["ReceiptHandle"]), message_of(raw, queue_arn=self._queue_arn, position=self._position)
                )
                self.tally.received += 1
                if item.message.message_id in self._settled:
                    had_early = True
                    self._resettled.append(item)
                elif item.message.sent_timestamp > self._settings.cut_ms:
                    self.tally.late += 1
                    self._late.append(item)
                else:
                    had_early = True
                    taken.append(item)
            if not had_early:
                break
        return taken, had_early

    # --- settling -------------------------------------------------------------------------------------------------

    def _settle(self, chunk: Chunk) -> None:
        """Parts, then dead letters, then the index, then the deletes."""
        if not (chunk.rows or chunk.letters or chunk.superseded):
            self._delete(self._resettled)
            self.tally.resettled += len(self._resettled)
            self._resettled = []
            return
        name = layout.chunk_name(self._clock())
        index: dict[str, Any] = {"rows": {}, "superseded": [], "deadLettered": []}
        for dataset_type, rows in chunk.rows.items():
            target = next(t for t in self._targets.values() if t.dataset_type == dataset_type)
            key = layout.part_key(self._spill_id, dataset_type, name)
            self._s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=csv_bytes(target.columns, [r.row for r in rows]),
                ContentType="text/csv",
            )
            index["rows"][dataset_type] = [
                [r.key, *age(r.taken.message, fifo=False), r.taken.message.message_id] for r in rows
            ]
        unwritten = self._letters.send([letter for _, letter in chunk.letters]) if chunk.letters else set()
        lettered = [item for item, letter in chunk.letters if letter.message.message_id not in unwritten]
        index["superseded"] = [[item.message.message_id, newer] for item, newer in chunk.superseded]
        index["deadLettered"] = [item.message.message_id for item in lettered]
        layout.write_json(self._s3, self._bucket, layout.index_key(self._spill_id, name), index)
        for dataset_type, rows in chunk.rows.items():
            self._progress[dataset_type] = self._progress.get(dataset_type, 0) + len(rows)
        layout.write_json(self._s3, self._bucket, layout.progress_key(self._spill_id), self._progress)
        done = [r.taken for rows in chunk.rows.values() for r in rows] + [i for i, _ in chunk.superseded] + lettered
        self._delete(done + self._resettled)
        self.tally.resettled += len(self._resettled)
        self._resettled = []
        self.tally.chunks += 1
        self.tally.written += sum(len(rows) for rows in chunk.rows.values())
        self.tally.superseded += len(chunk.superseded)
        self.tally.dead_lettered += len(lettered)
        self.tally.left += len(chunk.letters) - len(lettered)

    def _delete(self, items: Sequence[Taken]) -> None:
        """Delete settled messages; one SQS refuses comes back and is drained again (the compaction keeps one copy)."""
        for batch in _batches(items):
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": item.receipt} for i, item in enumerate(batch)],
            )

    def _release(self, items: Sequence[Taken]) -> None:
        """Make messages visible again now, for the Put path (or the next drain invocation)."""
        for batch in _batches(items):
            self._sqs.change_message_visibility_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": item.receipt, "VisibilityTimeout": 0}
                    for i, item in enumerate(batch)
                ],
            )


def settled_ids(s3: Any, bucket: str, spill_id: str) -> set[str]:
    """Every message id a chunk index of the spill names (written, superseded or dead-lettered)."""
    settled: set[str] = set()
    for key in layout.list_keys(s3, bucket, f"{layout.prefix(spill_id)}index/"):
        index = layout.read_json(s3, bucket, key) or {}
        for rows in index.get("rows", {}).values():
            settled.update(str(row[4]) for row in rows)
        settled.update(str(pair[0]) for pair in index.get("superseded", []))
        settled.update(str(message_id) for message_id in index.get("deadLettered", []))
    return settled


def _batches(items: Sequence[Taken]) -> Iterable[Sequence[Taken]]:
    for start in range(0, len(items), RECEIVE_MAX):
        yield items[start : start + RECEIVE_MAX]


def csv_bytes(schema_columns: Sequence[import_rules.Column], rows: Iterable[Mapping[str, Any]]) -> bytes:
    """A whole CSV file (header and rows) as an import reads it (``import_rules.write_rows``), in UTF-8."""
    out = io.StringIO()
    import_rules.write_rows(schema_columns, rows, out)
    return out.getvalue().encode("utf-8")
