"""The ids a change carries on a FIFO queue: its MessageGroupId and its MessageDeduplicationId."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

from tools.publisher.changes import UPSERT_ID_FIELDS

__all__ = ["deduplication_id", "group_id"]

# MessageGroupId: 1..128 characters, alphanumerics and punctuation (ASCII 0x21..0x7E).
_GROUP_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


def deduplication_id(body: str, *, upsert: bool = False) -> str:
    """The FIFO MessageDeduplicationId of one change, chosen once per change and kept across its retries.

    Events and action interactions: the SHA-256 of the body (hex, 64 characters). An identical event sent twice
    within SQS's five-minute deduplication window is the same event, and SQS drops the copy. (The handler derives
    a missing eventId from the SQS message id, not from this id: the deduplication id does not survive a trip
    through the dead-letter queue; docs/contracts.md §1.)

    Items, actions and users (``upsert``): a random id. Their bodies are states, not occurrences: a change that
    goes back to an earlier state (price 10 → 12 → 10) has the body of the first one, and content-based
    deduplication would drop it and leave the record at 12. The publisher sends a retried entry with the id it
    was given first, so a retry after a lost response is still deduplicated.
    """
    if upsert:
        return uuid.uuid4().hex
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def group_id(change: dict[str, Any]) -> str:
    """The FIFO MessageGroupId of a valid change.

    Items, actions and users: ``<type>#<id>`` (``item#sku-1``), so changes to one record stay in order and
    different records are consumed in parallel. Events and action interactions: the ``sessionId``, so a
    session's interactions stay in order. An id SQS would refuse as a group id (longer than 128 characters
    with the prefix, or characters other than printable ASCII) is replaced by ``sha256:<hex of the id>``: the
    same id still lands in the same group.
    """
    kind = str(change["type"])
    id_field = UPSERT_ID_FIELDS.get(kind)
    prefix, value = (f"{kind}#", str(change[id_field])) if id_field else ("", str(change["sessionId"]))
    candidate = prefix + value
    if _GROUP_ID.match(candidate):
        return candidate
    return f"{prefix}sha256:{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()}"
