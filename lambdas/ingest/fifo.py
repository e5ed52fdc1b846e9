"""FIFO order: a message group's order holds across calls, rounds and redeliveries.

When a message of a group fails and SQS redelivers it, every later message of its group in the batch fails too,
unsent (docs/design.md "The ingest algorithm", step 5): sent now, it would be applied before the failed one when
SQS redelivers the group. These functions apply that rule over the batch's ``Ledger``: while sending
(``blocked``, ``fail_if_blocked``, ``not_planned``) and while settling (``hold_back``, ``behind_failed``).
Standard queues have no groups (``Message.group_id`` is None), so nothing here holds anything back for them.
"""

from __future__ import annotations

from collections.abc import Sequence

from contract import ErrorCode
from ingest.dead_letter import DeadLetter
from ingest.decode import Message
from ingest.ledger import Fates, Ledger
from ingest.plan import Plan
from ingest.send import BLOCKED_BY_EARLIER_FAILURE
from ingest.validate import ValidRecord


def blocked(ledger: Ledger, message: Message) -> bool:
    """Whether an earlier message of ``message``'s group failed, so this one must not be sent now."""
    first = ledger.first_failure.get(message.group_id) if message.group_id is not None else None
    return first is not None and first < message.position


def fail_if_blocked(ledger: Ledger, record: ValidRecord) -> bool:
    """Fail ``record`` unsent when an earlier message of its group failed; True if it did."""
    message = record.change.message
    if not blocked(ledger, message):
        return False
    ledger.fail(message, BLOCKED_BY_EARLIER_FAILURE, record.change.kind.api)
    return True


def not_planned(records: Sequence[ValidRecord], plan: Plan) -> list[ValidRecord]:
    """The records a round left for later: in none of its calls, and superseded by none of them."""
    planned = {record.change.message.message_id for call in plan.calls for record in call.records}
    planned |= {rider.change.message.message_id for riders in plan.superseded.values() for rider in riders}
    return [record for record in records if record.change.message.message_id not in planned]


def behind_failed(messages: Sequence[Message], failed: set[str]) -> dict[str, Message]:
    """Every message after its group's first failed one (by message id), and that failed message."""
    holders: dict[str, Message] = {}
    held: dict[str, Message] = {}
    for message in messages:
        if message.group_id is None:
            continue
        holder = holders.get(message.group_id)
        if holder is not None:
            held[message.message_id] = holder
        elif message.message_id in failed:
            holders[message.group_id] = message
    return held


def hold_back(ledger: Ledger, messages: Sequence[Message], by_id: dict[str, Message], fates: Fates) -> None:
    """After a message SQS redelivers, every later message of its group is redelivered too, in order, and so not
    dead-lettered now (a poison one is, on a later delivery).

    Except on its last delivery: SQS would then move it to the DLQ on its next receive, without a reason. So it
    is dead-lettered now, with the reason, and acknowledged once the DLQ confirmed it. Moved by SQS or written
    here, it leaves the queue before the failed message comes back: its group's order is the same either way.
    (On a FIFO queue a message is received no more often than the earlier ones of its group, so the failed one
    is usually on its last delivery too: a setup error, which SQS moves to the DLQ after this letter. A redrive
    then replays the two in reverse order; they change different records, an older change to the same record
    being superseded, so the records end the same.)
    """
    for message_id, holder in behind_failed(messages, fates.failed).items():
        if message_id in fates.failed or message_id in fates.riders:
            continue  # a setup error is retried, never dead-lettered; a rider follows its leader
        message = by_id[message_id]
        if not ledger.last_delivery(message):
            fates.failed.add(message_id)
            fates.letters.pop(message_id, None)
            continue
        own = ledger.failures.get(message_id)
        if message_id not in fates.letters or (own is not None and own.failure == BLOCKED_BY_EARLIER_FAILURE):
            # A letter of its own keeps its own reason (poison, or the failure of its own call).
            cause = f"held back behind message {holder.message_id} of its group, which failed: "
            cause += ledger.failures[holder.message_id].reason
            fates.letters[message_id] = DeadLetter(
                message, ErrorCode.RETRIES_EXHAUSTED, cause, ledger.api_of(message_id)
            )
