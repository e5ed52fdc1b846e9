"""When to spill: the estimated time to drain the ingest queue through Put*, against ``spillAfterSeconds``.

What is known without touching a message is the queue's depth (GetQueueAttributes' ApproximateNumberOfMessages).
The kinds in it are not: reading messages to sample them would raise their receive counts, which the redrive
policy counts towards moving them to the dead-letter queue. So the estimate takes the slowest kind any backlog may
hold: PutItems, PutUsers and PutActions at their fixed 10 calls/s of 10 records, 100 records/s per dataset group
(docs/personalize.md §2). A backlog of events (1,000 calls/s) is overestimated a hundredfold; its spill costs an
import job's latency instead of minutes of Put, which the threshold keeps rare (docs/bulk.md, "The spill").
"""

from __future__ import annotations

from typing import Final

from contract import PUT_QUOTA_FIXED, RECORDS_PER_CALL

# Records per second the Put path can reach for the slowest kinds.
PUT_CEILING: Final = PUT_QUOTA_FIXED * RECORDS_PER_CALL
# The scheduled check runs every minute: a window shorter than that could name two executions in one check.
MIN_WINDOW_SECONDS: Final = 60


def drain_seconds(depth: int, *, ceiling: float = PUT_CEILING) -> float:
    """Seconds the Put path needs for ``depth`` messages at ``ceiling`` records per second."""
    return depth / ceiling


def should_spill(depth: int, spill_after_seconds: int) -> bool:
    """Whether a backlog of ``depth`` messages is worth spilling (never with ``spill_after_seconds`` 0)."""
    return spill_after_seconds > 0 and drain_seconds(depth) > spill_after_seconds


def execution_name(now: float, spill_after_seconds: int) -> str:
    """The execution name for the window ``now`` falls in: Step Functions refuses a second execution of one name
    (for 90 days), so two checks in one window cannot start two spills."""
    window = max(MIN_WINDOW_SECONDS, spill_after_seconds)
    return f"spill-{int(now // window)}"
