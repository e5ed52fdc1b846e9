"""When to spill: the estimated time to drain the ingest queue through Put*, against ``spillAfterSeconds``.

What is known without touching a message is the queue's depth (GetQueueAttributes' ApproximateNumberOfMessages).
The kinds in it are not: reading messages to sample them would raise their receive counts, which the redrive
policy counts towards moving them to the dead-letter queue. So the estimate takes the slowest kind any backlog may
hold, at the quotas the ingest function paces to (``PUT_QUOTAS`` over the contract's, ``ingest.pacing.parse_quotas``):
by default PutItems, PutUsers and PutActions at their fixed 10 calls/s of 10 records, 100 records/s per dataset
group (docs/personalize.md §2); with PutItems lowered to 8 (room left for another writer), 80. A backlog of events
(1,000 calls/s) is overestimated a hundredfold; its spill costs an import job's latency instead of minutes of Put,
which the threshold keeps rare (docs/bulk.md, "The spill").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from contract import RECORDS_PER_CALL
from ingest.pacing import parse_quotas


def put_ceiling(quotas: Mapping[str, float]) -> float:
    """Records per second the Put path reaches for the slowest kind: the lowest of ``quotas`` (Put* API -> calls per
    second, every API's, as ``parse_quotas`` returns them) times the records of a call."""
    return min(quotas.values()) * RECORDS_PER_CALL


# The ceiling at the contract's quotas (no ``PUT_QUOTAS``): 100 records/s.
PUT_CEILING: Final = put_ceiling(parse_quotas(""))
# The scheduled check runs every minute: a window shorter than that could name two executions in one check.
MIN_WINDOW_SECONDS: Final = 60


def drain_seconds(depth: int, *, ceiling: float = PUT_CEILING) -> float:
    """Seconds the Put path needs for ``depth`` messages at ``ceiling`` records per second."""
    return depth / ceiling


def should_spill(depth: int, spill_after_seconds: int, *, ceiling: float = PUT_CEILING) -> bool:
    """Whether a backlog of ``depth`` messages is worth spilling at ``ceiling`` records per second (never with
    ``spill_after_seconds`` 0)."""
    return spill_after_seconds > 0 and drain_seconds(depth, ceiling=ceiling) > spill_after_seconds


def execution_name(now: float, spill_after_seconds: int) -> str:
    """The execution name for the window ``now`` falls in: Step Functions refuses a second execution of one name
    (for 90 days), so two checks in one window cannot start two spills."""
    window = max(MIN_WINDOW_SECONDS, spill_after_seconds)
    return f"spill-{int(now // window)}"
