"""Step 3, plan: valid records → Personalize calls of at most ``max_records`` records each.

Within one batch only the newest change per id is sent for upsert kinds (items, actions, users): a record
replaces the previous one anyway, and sending older versions after newer ones would go backwards
(PERSONALIZE.md §1, "Upsert"). The superseded messages ride on the newest one's fate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest.kinds import Kind
from ingest.validate import ValidRecord


@dataclass(frozen=True, slots=True)
class Call:
    """One Put* call: its kind, where it writes, its call-level fields and its records, in send order."""

    kind: Kind
    target: str
    call_fields: tuple[tuple[str, Any], ...]
    records: tuple[ValidRecord, ...]


@dataclass(slots=True)
class Plan:
    """The calls to make, and for each sent record the older changes to the same id it superseded."""

    calls: list[Call]
    superseded: dict[str, list[ValidRecord]] = field(default_factory=dict)


def plan_calls(
    records: Iterable[ValidRecord], *, targets: dict[str, str], max_records: dict[str, int], collapse: bool = True
) -> Plan:
    """Collapse upserts to the newest change per id, group by call, and chunk.

    Parameters
    ----------
    records:
        Valid records in batch order.
    targets:
        Kind name → dataset ARN or tracking id.
    max_records:
        Kind name → the API's records-per-call maximum (botocore's model: 10).
    collapse:
        Keep only the newest change per id (standard queues). FIFO queues keep every change, in order.
    """
    ordered = list(records)
    superseded: dict[str, list[ValidRecord]] = {}
    if collapse:
        ordered, superseded = _collapse(ordered)
    groups: dict[tuple[str, tuple[tuple[str, Any], ...]], list[ValidRecord]] = {}
    for record in ordered:
        groups.setdefault((record.change.kind.name, record.call_fields), []).append(record)
    calls: list[Call] = []
    for (kind_name, call_fields), members in groups.items():
        size = max_records[kind_name]
        kind = members[0].change.kind
        calls.extend(
            Call(kind=kind, target=targets[kind_name], call_fields=call_fields, records=tuple(chunk))
            for chunk in _chunks(members, size)
        )
    return Plan(calls=calls, superseded=superseded)


def _collapse(records: list[ValidRecord]) -> tuple[list[ValidRecord], dict[str, list[ValidRecord]]]:
    newest: dict[tuple[str, str], ValidRecord] = {}
    for record in records:
        if record.collapse_key is None:
            continue
        key = (record.change.kind.name, record.collapse_key)
        current = newest.get(key)
        if current is None or _age(record) > _age(current):
            newest[key] = record
    kept: list[ValidRecord] = []
    superseded: dict[str, list[ValidRecord]] = {}
    for record in records:
        if record.collapse_key is None:
            kept.append(record)
            continue
        winner = newest[(record.change.kind.name, record.collapse_key)]
        if winner is record:
            kept.append(record)
        else:
            superseded.setdefault(winner.change.message.message_id, []).append(record)
    return kept, superseded


def _age(record: ValidRecord) -> tuple[int, int]:
    """Newest first by SentTimestamp, then by position in the batch."""
    message = record.change.message
    return (message.sent_timestamp, message.position)


def _chunks(records: Sequence[ValidRecord], size: int) -> Iterable[Sequence[ValidRecord]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]
