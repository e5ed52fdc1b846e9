"""A batch's independent calls in flight together, over a bounded pool of threads (docs/design.md "Throughput").

A Put* call spends nearly all its time waiting for Personalize (tens of milliseconds), so one after another, the
calls of a batch take the sum of their latencies. Calls that do not depend on each other (another API, another
session's events, another FIFO message group) go out together instead; calls that do (the chunks of one FIFO
group's run, in order) form a *chain* and go out one after the other, in one thread. An invocation then lasts
about as long as its longest chain, not as long as all its calls.

The pool belongs to one round of one invocation and is shut down, waiting for every call it started, before the
round's outcomes are read: no call outlives the invocation, and each one is bounded by the deadline anyway
(``ingest.clients``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from ingest.plan import Call

# The most calls one environment has in flight at once. PutItems, PutUsers and PutActions are paced far below
# this (10 calls/s for the fleet); it is PutEvents (1,000 calls/s per dataset group) that uses the room: at
# 30 ms a call, 32 calls in flight are about 1,000 calls/s. Threads wait on sockets, so the GIL is no limit; the
# personalize-events client's connection pool is sized to match (``ingest.handler``).
MAX_CALLS_IN_FLIGHT = 32


def run_all[T](tasks: Sequence[Callable[[], T]], *, max_workers: int = MAX_CALLS_IN_FLIGHT) -> list[T]:
    """Run ``tasks`` at most ``max_workers`` at a time and return their results in order, once every one ended.

    One task runs in the caller's thread. An exception of a task is raised here, after every task ended (the
    pipeline's tasks catch their own failures: one raising is a bug, which fails the invocation).
    """
    if len(tasks) <= 1 or max_workers <= 1:
        return [task() for task in tasks]
    with ThreadPoolExecutor(max_workers=min(max_workers, len(tasks)), thread_name_prefix="put") as pool:
        futures = [pool.submit(task) for task in tasks]
    # Leaving the with block waited for every task: no call is still running.
    return [future.result() for future in futures]


def chains(calls: Sequence[Call]) -> list[list[Call]]:
    """Split a round's calls into chains that may run concurrently, each in plan order.

    Two calls depend on each other when they hold records of the same FIFO message group: a failure in the first
    holds back the group's later records in the second (``ingest.fifo``). On a standard queue no record has a group,
    so every call is a chain of its own. Calls linked through any group end up in one chain (union by group).
    """
    parent = list(range(len(calls)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    first_call_of_group: dict[str, int] = {}
    for index, call in enumerate(calls):
        for record in call.records:
            group = record.change.message.group_id
            if group is None:
                continue
            other = first_call_of_group.setdefault(group, index)
            parent[root(index)] = root(other)
    by_root: dict[int, list[Call]] = {}
    for index, call in enumerate(calls):
        by_root.setdefault(root(index), []).append(call)
    return list(by_root.values())
