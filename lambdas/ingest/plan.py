"""Step 3, plan: valid records → Personalize calls of at most ``max_records`` records each.

Within one batch only the newest change per id is sent for upsert kinds (items, actions, users): a record
replaces the previous one anyway, and sending older versions after newer ones would go backwards
(docs/personalize.md §1, "Upsert"); ``ingest.newest`` says which change is the newest. The superseded messages ride
on the newest one's fate. Two changes to one id never share a call: Personalize does not document in which order it
applies the records of one call.

Standard queues: ``plan_calls`` plans the whole batch at once. FIFO queues: ``plan_fifo_round`` plans one round at
a time, so that no record is sent before every earlier record of its message group has been accepted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest.decode import Message
from ingest.kinds import Kind
from ingest.newest import newest_per_record
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
        Keep only the newest change per id. Without it every change is kept, in order (and two changes to one id
        may then share a call: FIFO queues use ``plan_fifo_round`` instead).
    """
    ordered = list(records)
    superseded: dict[str, list[ValidRecord]] = {}
    if collapse:
        # plan_calls serves standard queues, where SentTimestamp says which change is the newest.
        ordered, superseded = _keep_newest(ordered, fifo=False)
    return Plan(calls=_calls(ordered, targets=targets, max_records=max_records), superseded=superseded)


def _keep_newest(records: list[ValidRecord], *, fifo: bool) -> tuple[list[ValidRecord], dict[str, list[ValidRecord]]]:
    """``records`` without the changes a newer one to the same id replaces, and those changes by the message id of
    the newest one (their order kept). Records that replace nothing (events) are all kept."""
    by_record = newest_per_record(records, record=_identity, message=_message, fifo=fifo)
    kept: list[ValidRecord] = []
    superseded: dict[str, list[ValidRecord]] = {}
    for record in records:
        identity = _identity(record)
        winner = by_record[identity].newest if identity is not None else record
        if winner is record:
            kept.append(record)
        else:
            superseded.setdefault(winner.change.message.message_id, []).append(record)
    return kept, superseded


def _chunks(records: Sequence[ValidRecord], size: int) -> Iterable[Sequence[ValidRecord]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]


def plan_fifo_round(records: Iterable[ValidRecord], *, targets: dict[str, str], max_records: dict[str, int]) -> Plan:
    """FIFO: the calls of the next round, for the records not sent yet.

    One message group may need several calls: the publisher groups an event and an action interaction of one
    session together (tools/publisher/fifo_ids.py), a session's events change call when their userId does, and a
    publisher may put an item and a user in one group. Sending every call of the batch at once would send a record
    before an earlier record of its group has failed (issue 5: a failure fails every later record of its group,
    unsent).
    So a round takes, of each group, only its leading run: its records up to the first one that needs another
    call (another API, or other sessionId/userId for PutEvents). The caller sends the calls in order, skipping
    what a failure holds back, and plans the next round from what is left.

    Within a run, the changes to one id collapse to the last (a group's order is its publish order), and the
    earlier ones ride on its fate (``Plan.superseded``). Two groups may hold changes to one id (a publisher's own
    grouping); between them, batch order decides which is written last. So a run takes a change to an id only
    when every pending change to that id before it in the batch is its own group's, and ends before it otherwise:
    the group holding the id's earliest pending change sends first, and another group's later change waits for a
    later round. Two changes to one id never share a call. (The batch's first pending record always starts a run,
    so every round sends something.)

    Parameters
    ----------
    records:
        The records still to send, any order (they are taken in batch order).
    targets, max_records:
        As for ``plan_calls``.

    Returns
    -------
    Plan
        The round's calls, in the batch order of their first record. Records in none of its calls and in no
        ``superseded`` list wait for a later round.
    """
    ordered = sorted(records, key=_position)
    groups: dict[str, list[ValidRecord]] = {}
    # Per id, the groups of its pending changes in batch order: who may send a change to it this round.
    holders: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for record in ordered:
        groups.setdefault(_group(record), []).append(record)
        identity = _identity(record)
        if identity is not None:
            holders.setdefault(identity, []).append((_position(record), _group(record)))
    chosen: list[ValidRecord] = []
    superseded: dict[str, list[ValidRecord]] = {}
    for group, members in groups.items():
        run: list[ValidRecord] = []
        for record in members:
            if _call_key(record) != _call_key(members[0]):
                break
            identity = _identity(record)
            if identity is not None and _another_group_first(holders[identity], record, group):
                break
            run.append(record)
        # A run is one group's: its order is the group's (``ingest.newest``).
        kept, riders = _keep_newest(run, fifo=True)
        chosen.extend(kept)
        for winner_id, older in riders.items():
            superseded.setdefault(winner_id, []).extend(older)
    calls = _calls(sorted(chosen, key=_position), targets=targets, max_records=max_records)
    return Plan(calls=sorted(calls, key=lambda call: _position(call.records[0])), superseded=superseded)


def _another_group_first(holders: Sequence[tuple[int, str]], record: ValidRecord, group: str) -> bool:
    """Whether another group holds a pending change to ``record``'s id that comes before it in the batch."""
    return any(position < _position(record) and holder != group for position, holder in holders)


def _calls(ordered: Sequence[ValidRecord], *, targets: dict[str, str], max_records: dict[str, int]) -> list[Call]:
    """Group records by call (kind and call fields), in order of first appearance, and chunk each group."""
    groups: dict[tuple[str, tuple[tuple[str, Any], ...]], list[ValidRecord]] = {}
    for record in ordered:
        groups.setdefault(_call_key(record), []).append(record)
    calls: list[Call] = []
    for (kind_name, call_fields), members in groups.items():
        kind = members[0].change.kind
        calls.extend(
            Call(kind=kind, target=targets[kind_name], call_fields=call_fields, records=tuple(chunk))
            for chunk in _chunks(members, max_records[kind_name])
        )
    return calls


def _call_key(record: ValidRecord) -> tuple[str, tuple[tuple[str, Any], ...]]:
    return (record.change.kind.name, record.call_fields)


def _identity(record: ValidRecord) -> tuple[str, str] | None:
    return (record.change.kind.name, record.collapse_key) if record.collapse_key is not None else None


def _message(record: ValidRecord) -> Message:
    return record.change.message


def _group(record: ValidRecord) -> str:
    # Every message of a FIFO queue has a group; one without is its own group (it waits for nothing).
    message = record.change.message
    return message.group_id if message.group_id is not None else f"\0{message.message_id}"


def _position(record: ValidRecord) -> int:
    return record.change.message.position
