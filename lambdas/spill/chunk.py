"""One drained chunk, decided before anything is written: each message's row, dead letter, or place in the queue.

The ingest Lambda's own rules, in its order: ``ingest.decode``, then ``ingest.validate`` against the dataset's
schema (``bulk.targets``), then the newest change per record (``ingest.newest``); a valid change becomes a CSV row
with ``bulk.rows``. See ``spill.drain`` for what happens to each outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import import_rules
from bulk.rows import row_of
from bulk.targets import Target
from contract import ErrorCode
from ingest.dead_letter import DeadLetter
from ingest.decode import Message, SqsRecord, decode
from ingest.errors import RejectedRecord
from ingest.kinds import KINDS
from ingest.newest import newest_per_record
from ingest.validate import validate


@dataclass(frozen=True, slots=True)
class Taken:
    """A received message: its receipt handle and what the pipeline reads of it."""

    receipt: str
    message: Message


@dataclass(slots=True)
class Row:
    taken: Taken
    row: dict[str, Any]
    key: str | None


@dataclass(slots=True)
class Chunk:
    """One chunk's settlement, built before anything is written."""

    rows: dict[str, list[Row]] = field(default_factory=dict)
    superseded: list[tuple[Taken, str]] = field(default_factory=list)
    letters: list[tuple[Taken, DeadLetter]] = field(default_factory=list)


def message_of(raw: Mapping[str, Any], *, queue_arn: str, position: int) -> Message:
    """A ReceiveMessage message as the handler reads its Lambda event record (``Message.from_record``)."""
    record: SqsRecord = {
        "messageId": str(raw["MessageId"]),
        "receiptHandle": str(raw["ReceiptHandle"]),
        "body": str(raw.get("Body", "")),
        "attributes": dict(raw.get("Attributes", {})),  # type: ignore[typeddict-item]
        "messageAttributes": {
            name: {"stringValue": value.get("StringValue"), "dataType": value.get("DataType")}
            for name, value in raw.get("MessageAttributes", {}).items()
        },
        "md5OfBody": str(raw.get("MD5OfBody", "")),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3] if queue_arn.count(":") >= 5 else "",
    }
    return Message.from_record(record, position)


class ChunkSorter:
    """Sorts chunks for one drain invocation; holds interactions below an import job's minimum across chunks.

    ``progress`` counts the rows written so far per dataset type (the drain updates it as it writes).
    """

    def __init__(
        self, targets: Mapping[str, Target], min_records: Callable[[str, str], int], progress: Mapping[str, int]
    ) -> None:
        self._targets, self._min_records, self._progress = targets, min_records, progress
        self.held: dict[str, list[Row]] = {}
        self.left: list[Taken] = []

    @property
    def holding(self) -> list[Taken]:
        """The messages held back or left for the Put path (invisible until released)."""
        return self.left + [row.taken for rows in self.held.values() for row in rows]

    def sort(self, taken: Sequence[Taken]) -> Chunk:
        """Decode, validate and collapse a chunk: rows per dataset type, superseded changes, dead letters."""
        chunk = Chunk()
        by_kind: dict[str, list[Row]] = {}
        for item in taken:
            outcome = self._row(item)
            if isinstance(outcome, DeadLetter):
                chunk.letters.append((item, outcome))
            elif outcome is None:
                self.left.append(item)
            else:
                by_kind.setdefault(outcome[0], []).append(outcome[1])
        for kind_name, found in by_kind.items():
            target = self._targets[kind_name]
            if target.kind.id_field is not None:
                rows = self._collapse(found, chunk)
            else:
                rows = self._hold_until_minimum(target, found)
            if rows:
                chunk.rows[target.dataset_type] = rows
        return chunk

    def _row(self, item: Taken) -> tuple[str, Row] | DeadLetter | None:
        """A message's row (with its kind), its dead letter, or None when the Put path must carry it."""
        message = item.message
        try:
            change = decode(message)
            target = self._targets.get(change.kind.name)
            if target is None:
                kind = KINDS[change.kind.name]
                # The handler's reason, word for word (ingest.pipeline): the dataset variable is not set.
                return DeadLetter(
                    message, ErrorCode.DATASET_NOT_CONFIGURED, f"{kind.name}: {kind.dataset_env} is not set"
                )
            valid = validate(change, target.api, target.schema)
        except RejectedRecord as rejection:
            return DeadLetter(message, rejection.code, rejection.message)
        except Exception:  # the handler retries what it did not expect: here, the Put path will
            return None
        try:
            row = row_of(valid, target)
        except RejectedRecord:
            return None  # valid for Put*, not for a bulk CSV: left for the Put path
        return change.kind.name, Row(Taken(item.receipt, change.message), row, valid.collapse_key)

    def _collapse(self, rows: list[Row], chunk: Chunk) -> list[Row]:
        """Keep the newest change per record (``ingest.newest``); the older ones are superseded by it."""
        grouped = newest_per_record(rows, record=lambda r: r.key, message=lambda r: r.taken.message, fifo=False)
        for changes in grouped.values():
            chunk.superseded.extend((older.taken, changes.newest.taken.message.message_id) for older in changes.older)
        return [changes.newest for changes in grouped.values()]

    def _hold_until_minimum(self, target: Target, rows: list[Row]) -> list[Row]:
        """Interactions are written once the dataset's rows reach an import job's minimum; held until then."""
        fewest = max(self._min_records(target.dataset_type, mode) for mode in import_rules.IMPORT_MODES)
        held = self.held.setdefault(target.dataset_type, [])
        held.extend(rows)
        if self._progress.get(target.dataset_type, 0) + len(held) < fewest:
            return []
        self.held[target.dataset_type] = []
        return held
