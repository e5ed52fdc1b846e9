"""Every input line through the ingest Lambda's own steps: decode, validate, collapse; rejects with their reasons.

A line of changes is handed to ``ingest.decode`` as the Lambda receives an SQS message: the line is the body, its
message id a digest of the body (so an event without an ``eventId`` derives the same one every run, and two copies
of one body derive one), and its position in the whole run stands in for ``SentTimestamp``: of two changes to one
item, action or user, the later ``changedAt`` is the newer, else the later line (``ingest.newest``, the rule the
Lambda plans with; a change without ``changedAt`` counts as made at its SentTimestamp, here 0, so before any
change that has one). It is then
validated by ``ingest.validate`` against the dataset's schema as Personalize holds it, and written as a row
(``bulk.rows``). A CSV input's line is checked by the rules the import reads with
(``import_rules``), after its header was checked against the schema.

Nothing is dropped silently: a line that fails any step is a :class:`Reject` with the dead-letter contract's code
and message (docs/contracts.md §3); an older change replaced by a newer one is counted as superseded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from bulk.rows import MEMBER_COLUMNS, checked, row_of
from bulk.targets import Target
from contract import ERROR_CODE_ATTRIBUTE, ERROR_MESSAGE_ATTRIBUTE, ErrorCode
from import_rules import header_problems, read_rows
from ingest.decode import Message, decode
from ingest.errors import RejectedRecord
from ingest.newest import newest_per_record
from ingest.validate import validate
from tools.backfill.errors import BackfillError
from tools.backfill.inputs import Line

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reject:
    """A line that cannot be imported, as the rejects file holds it (JSON Lines)."""

    line: Line
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The rejects file's record: the original line, where it was, and the dead letter's code and message."""
        return {
            "source": self.line.source,
            "lineNumber": self.line.number,
            "line": self.line.text,
            ERROR_CODE_ATTRIBUTE: self.code,
            ERROR_MESSAGE_ATTRIBUTE: self.message,
        }


@dataclass(frozen=True, slots=True)
class Entry:
    """One accepted line: its row, the record it replaces (upsert kinds) and the message it came as."""

    message: Message
    row: Row
    record_key: str | None


@dataclass(slots=True)
class DatasetRows:
    """What a run has for one dataset so far: upserts collapsed by id; events in input order (as :meth:`rows`)."""

    target: Target
    newest: dict[str, Entry] = field(default_factory=dict)
    events: list[Row] = field(default_factory=list)
    superseded: int = 0

    def add(self, entry: Entry) -> None:
        """Keep ``entry``: an event always; a change to a record only if it is newer than the one kept so far."""
        if entry.record_key is None:
            self.events.append(entry.row)
            return
        current = self.newest.get(entry.record_key)
        if current is None:
            self.newest[entry.record_key] = entry
            return
        # The Lambda's one rule for which change is the newest, on the two candidates.
        (changes,) = newest_per_record(
            [current, entry], record=lambda e: e.record_key, message=lambda e: e.message, fifo=False
        ).values()
        self.newest[entry.record_key] = changes.newest
        self.superseded += 1

    def rows(self) -> Iterator[Row]:
        """The rows to import: each record's newest change (in order of first appearance), or every event."""
        if self.target.kind.id_field is None:
            return iter(self.events)
        return (entry.row for entry in self.newest.values())

    @property
    def count(self) -> int:
        """How many rows :meth:`rows` yields."""
        return len(self.events) if self.target.kind.id_field is None else len(self.newest)


# An event id derived from a body is the body's digest, shortened to fit the model's 256 characters with room.
_MESSAGE_ID_DIGITS: Final = 32


@dataclass(slots=True)
class Collector:
    """Runs lines through the steps and sorts them: accepted rows per dataset, rejects, and counts."""

    targets: Mapping[str, Target]
    on_reject: Callable[[Reject], None]
    datasets: dict[str, DatasetRows] = field(default_factory=dict)
    lines: int = 0
    rejected: int = 0

    def __post_init__(self) -> None:
        self.datasets = {name: DatasetRows(target) for name, target in self.targets.items()}

    def _reject(self, line: Line, code: str, message: str) -> None:
        self.rejected += 1
        self.on_reject(Reject(line, code, message))

    def add_changes(self, lines: Iterable[Line]) -> None:
        """Decode, validate and keep every line of a JSON Lines input."""
        for line in lines:
            self.lines += 1
            if not line.text.strip():
                self._reject(line, ErrorCode.MALFORMED_MESSAGE, "the line is empty: one message per line")
                continue
            message = Message(
                message_id=hashlib.sha256(line.text.encode("utf-8", "surrogateescape")).hexdigest()[
                    :_MESSAGE_ID_DIGITS
                ],
                body=line.text,
                position=self.lines,
                receive_count=1,
                sent_timestamp=0,
            )
            try:
                change = decode(message)
                dataset = self.datasets.get(change.kind.name)
                if dataset is None:
                    # The Lambda's answer for a kind it has no dataset for.
                    raise RejectedRecord(
                        ErrorCode.DATASET_NOT_CONFIGURED, f"{change.kind.name}: no dataset was given for this kind"
                    )
                valid = validate(change, dataset.target.api, dataset.target.schema)
                row = row_of(valid, dataset.target)
            except RejectedRecord as rejection:
                self._reject(line, rejection.code, rejection.message)
                continue
            # The change's own message: decode puts a ``changedAt`` on it, which the newest rule reads.
            dataset.add(Entry(change.message, row, valid.collapse_key))

    def add_csv(self, kind_name: str, lines: Iterable[Line]) -> None:
        """Check a CSV input's header against its dataset's schema, then keep every row that reads back.

        Raises
        ------
        BackfillError
            The header does not fit the schema (nothing of the file can be imported).
        """
        dataset = self.datasets[kind_name]
        schema_columns = dataset.target.columns
        iterator = iter(lines)
        header_line = next(iterator, None)
        if header_line is None or not header_line.text.strip():
            raise BackfillError(f"{_source(header_line, kind_name)}: the first line must be the header row")
        header = [name.strip() for name in header_line.text.removeprefix("\ufeff").split(",")]
        problems = ["header names are quoted"] if '"' in header_line.text else header_problems(schema_columns, header)
        if problems:
            raise BackfillError(
                f"{header_line.source}: the header does not fit {dataset.target.dataset_arn}: {problems[0]}"
            )
        id_column = _id_column(dataset.target)
        for line in iterator:
            if not line.text.strip():
                continue
            self.lines += 1
            rows, found = read_rows(schema_columns, f"{header_line.text}\n{line.text}", source="")
            try:
                if found:
                    problem = found[0].removeprefix(" line 2: ")
                    code = ErrorCode.MALFORMED_MESSAGE if "CSV" in problem or "values, found" in problem else None
                    raise RejectedRecord(code or ErrorCode.SCHEMA_VIOLATION, problem)
                row = checked(rows[0], schema_columns)
            except RejectedRecord as rejection:
                self._reject(line, rejection.code, rejection.message)
                continue
            message = Message(
                message_id=str(self.lines), body=line.text, position=self.lines, receive_count=1, sent_timestamp=0
            )
            dataset.add(Entry(message, row, str(row[id_column]) if id_column else None))


def _id_column(target: Target) -> str | None:
    """The column holding an upsert kind's record id (``ITEM_ID``); None for events."""
    id_field = target.kind.id_field
    return MEMBER_COLUMNS[target.kind.name][id_field] if id_field else None


def _source(line: Line | None, kind_name: str) -> str:
    return line.source if line is not None else f"the {kind_name} CSV"
