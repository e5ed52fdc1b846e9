"""Superseding: an older change to an item, action or user that a newer change in the batch replaces is acknowledged
unwritten, rather than retried or dead-lettered on its own.

A newer change replaces the record whole (docs/personalize.md §1, "Upsert"). Written after the newer one, by a
retry or by a redrive from the DLQ, an older change would put the older state back. These functions decide, over
the batch's ``Ledger``, which older changes settle with their newer one (``supersede``).
"""

from __future__ import annotations

from ingest.decode import Change, Message
from ingest.ledger import Fates, Ledger
from ingest.newest import newest_per_record


def newest_changes(ledger: Ledger, refused: set[str]) -> dict[str, str]:
    """Each older change to an item, action or user → the newest change to that record in this batch, of those
    not refused (``ingest.newest`` says which is the newest; on a FIFO queue, within its message group).

    A change that could not be validated yet (its kind's DescribeDataset failed) counts by the id it names: it
    is redelivered, and should it prove invalid then, it is refused like any newer change refused later.
    """

    def record(change: Change) -> tuple[str | None, str, str] | None:
        message_id = change.message.message_id
        record_id = _record_id(ledger, message_id, change)
        if record_id is None or message_id in refused:
            return None
        return (change.message.group_id, change.kind.name, record_id)

    by_record = newest_per_record(ledger.changes.values(), record=record, message=_message, fifo=ledger.fifo)
    return {
        older.message.message_id: changes.newest.message.message_id
        for changes in by_record.values()
        for older in changes.older
    }


def supersede(ledger: Ledger, by_id: dict[str, Message], fates: Fates, newest: dict[str, str]) -> None:
    """Acknowledge the older changes to an item, action or user that a newer change in the batch replaces.

    The newest change to a record that was not refused is never lost: it is accepted, or reported failed (SQS
    redelivers it, or moves it to the DLQ), or dead-lettered. So an older change that was not written is
    acknowledged when the newer one was accepted or is being dead-lettered, and, on its own last delivery, also
    when the newer one was not. Reported failed, SQS would move it to the DLQ alone and without a reason, and
    ``redrive --codes RedrivePolicy`` would later write it over the newer state; dead-lettered by the handler, even
    right after its newer change, a redrive would replay it last and so write it over the newer state the same way.
    (Should the newer change be refused later, redelivered and then InvalidInput, the record keeps the state it
    had, and the newer change waits in the DLQ for a fix.)

    FIFO order holds: the older change's content is applied, if ever, only as its newer change, which comes
    later in the same group and so is redelivered (or dead-lettered) after any earlier failed message of the
    group. And acknowledging it releases nothing: the messages after it that a failure holds back stay held by
    that failure, or by the newer change itself, which is failed or dead-lettered (a rider holds back nothing
    of its own: ``Ledger.fail``).
    """
    for message_id, newer in newest.items():
        if message_id in ledger.accepted or message_id in fates.refused:
            continue
        kept_by_newer = (newer in ledger.accepted and newer not in fates.failed) or newer in fates.letters
        if kept_by_newer or ledger.last_delivery(by_id[message_id]):
            fates.superseded[message_id] = newer
            fates.failed.discard(message_id)
            fates.letters.pop(message_id, None)
            fates.riders.pop(message_id, None)


def _record_id(ledger: Ledger, message_id: str, change: Change) -> str | None:
    """The id of the record an upsert change replaces (None for events, or an id not even a string)."""
    record = ledger.records.get(message_id)
    if record is not None:
        return record.collapse_key
    value = change.fields.get(change.kind.id_field) if change.kind.id_field else None
    return value if isinstance(value, str) else None


def _message(change: Change) -> Message:
    return change.message
