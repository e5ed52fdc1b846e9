"""Builders of one batch's pieces (messages, changes, valid records, the ledger), for unit tests of the modules that
settle a batch (``ingest.ledger``, ``ingest.fifo``, ``ingest.supersede``, ``ingest.settle``) without the steps
before them."""

from __future__ import annotations

from typing import Any

from ingest.decode import Change, Message
from ingest.errors import CallFailure, Disposition
from ingest.kinds import KINDS
from ingest.ledger import Ledger
from ingest.validate import ValidRecord

MAX_RECEIVE_COUNT = 5
UNAVAILABLE = CallFailure(Disposition.RETRYABLE, "ServiceUnavailable", "try later")
DENIED = CallFailure(Disposition.SETUP, "AccessDeniedException", "denied")


def message(
    position: int,
    *,
    group: str | None = None,
    receive_count: int = 1,
    sent: int | None = None,
    message_id: str | None = None,
) -> Message:
    """The message at ``position`` of a batch (id ``m<position>``), sent at ``sent`` (default: 1000 + position)."""
    return Message(
        message_id=message_id or f"m{position}",
        body="{}",
        position=position,
        receive_count=receive_count,
        sent_timestamp=1000 + position if sent is None else sent,
        group_id=group,
    )


def last_delivery(position: int, **kwargs: Any) -> Message:
    """A message SQS moves to the DLQ if it is reported failed now."""
    return message(position, receive_count=MAX_RECEIVE_COUNT, **kwargs)


def change(of: Message, kind: str = "item", **fields: Any) -> Change:
    """A decoded change of ``kind`` carried by ``of``."""
    return Change(message=of, kind=KINDS[kind], fields=fields)


def item_change(of: Message, item_id: str) -> Change:
    return change(of, "item", itemId=item_id, properties={"price": 1})


def valid(of: Change) -> ValidRecord:
    """``of`` as validation would pass it: an upsert keyed by its id, an event keyed by nothing."""
    id_field = of.kind.id_field
    return ValidRecord(of, dict(of.fields), (), str(of.fields[id_field]) if id_field else None)


def ledger(*changes: Change, fifo: bool = False, validated: bool = True) -> Ledger:
    """A ledger that decoded ``changes`` (and validated them, unless ``validated`` is False)."""
    book = Ledger(fifo=fifo, max_receive_count=MAX_RECEIVE_COUNT)
    for decoded in changes:
        book.changes[decoded.message.message_id] = decoded
        if validated:
            book.records[decoded.message.message_id] = valid(decoded)
    return book
