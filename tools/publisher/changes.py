"""What the publisher knows of a change beyond the contract: which kinds are upserts, and the body it is sent as.

Items, actions and users are upserts: a later change to the same id replaces an earlier one entirely, so they are
grouped by record on a FIFO queue (:mod:`~tools.publisher.fifo_ids`) and carry a ``changedAt`` that orders them on
a standard one (:mod:`~tools.publisher.sending`). Events and action interactions are occurrences, each with its own
time.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["CHANGED_AT", "UPSERT_ID_FIELDS", "canonical_body"]

# The kinds whose records are upserts: a later change to the same id replaces an earlier one entirely.
UPSERT_ID_FIELDS = {"item": "itemId", "action": "actionId", "user": "userId"}
# docs/contracts.md §1: when an upsert was made, which orders two changes to one record on a standard queue.
CHANGED_AT = "changedAt"
# Characters SQS accepts in a message body; anything else fails the entry with InvalidMessageContents.
_SQS_FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def canonical_body(change: Any) -> str:
    """The message body for ``change``: compact JSON with sorted keys, so equal changes have equal bodies.

    Non-ASCII text stays as it is (a third of the size of ``\\u`` escapes for many scripts), unless the text
    holds a character SQS refuses in a body (a lone surrogate, U+FFFE, U+FFFF): then everything non-ASCII is
    escaped, which is the same JSON.
    """
    text = json.dumps(change, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False)
    if _SQS_FORBIDDEN.search(text):
        text = json.dumps(change, ensure_ascii=True, separators=(",", ":"), sort_keys=True, allow_nan=False)
    return text
