"""Which change to a record is the newest: the one rule planning, FIFO rounds and superseding share.

Items, actions and users are replaced whole (docs/personalize.md §1, "Upsert"), so of several changes to one record
in a batch only the newest counts; the older ones are superseded by it. "Newest" means the same everywhere:

- on a FIFO queue, the later one in its message group (a group's order is its publish order; neither
  ``changedAt`` nor SentTimestamp adds anything to it, and a group orders nothing against another);
- on a standard queue (SQS orders nothing), the later ``changedAt`` (docs/contracts.md §1: when the publisher made
  the change); a change without one counts as made at its SentTimestamp. Then, among equal times, the later
  SentTimestamp, then the later batch position: the last resort, since a standard queue's batch order means nothing.

``ingest.plan`` collapses a call's records with it, ``plan_fifo_round`` a FIFO run's, and ``ingest.supersede``
finds which unwritten changes a newer one replaces.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

from ingest.decode import Message


@dataclass(frozen=True, slots=True)
class RecordChanges[T]:
    """The changes to one record in a batch: the newest, and the older ones it supersedes, oldest first."""

    newest: T
    older: tuple[T, ...]


def age(message: Message, *, fifo: bool) -> tuple[int, int, int]:
    """A change's age, by its message: the larger, the newer (positions are unique, so two ages never tie).

    Times are compared in epoch microseconds: ``changedAt`` (``Message.changed_at``), else the SentTimestamp.
    """
    if fifo:
        return (0, 0, message.position)
    changed_at = message.changed_at if message.changed_at is not None else message.sent_timestamp * 1_000
    return (changed_at, message.sent_timestamp, message.position)


def newest_per_record[C, K: Hashable](
    changes: Iterable[C], *, record: Callable[[C], K | None], message: Callable[[C], Message], fifo: bool
) -> dict[K, RecordChanges[C]]:
    """Group ``changes`` by the record they change, newest last.

    Parameters
    ----------
    changes:
        Changes in batch order.
    record:
        The key of the record a change replaces, or None for a change that replaces nothing (an event): those are
        left out. The callers key differently on purpose: planning sees valid records only, and keys them by kind
        and id (two changes to one id must never share a call, whatever their group); superseding also counts
        changes not validated yet (by the id their message names) and, on a FIFO queue, keys by message group too,
        because only a group orders its changes.
    message:
        The SQS message a change came in (its age is read from it).
    fifo:
        Whether the batch comes from a FIFO queue (see ``age``).

    Returns
    -------
    dict
        Record key → its changes, in the order each record's first change appears in ``changes``.
    """
    by_record: dict[K, list[C]] = {}
    for change in changes:
        key = record(change)
        if key is not None:
            by_record.setdefault(key, []).append(change)
    result: dict[K, RecordChanges[C]] = {}
    for key, members in by_record.items():
        members.sort(key=lambda change: age(message(change), fifo=fifo))
        result[key] = RecordChanges(newest=members[-1], older=tuple(members[:-1]))
    return result
