"""A round's independent calls in flight together, its dependent ones in order (ingest.concurrency)."""

from __future__ import annotations

import dataclasses
import functools
import threading
import time

import pytest

from ingest.concurrency import chains, run_all
from ingest.plan import Call, plan_calls, plan_fifo_round
from ingest.validate import ValidRecord
from tests.support.sqs_events import item
from tests.unit.test_ingest_plan import MAX, TARGETS, valid

# Real threads: a barrier no task can pass alone proves the tasks overlapped; its timeout only ends a broken test.
BARRIER_TIMEOUT_S = 10.0


def test_run_all_runs_tasks_together_and_returns_their_results_in_order() -> None:
    barrier = threading.Barrier(4, timeout=BARRIER_TIMEOUT_S)

    def task(number: int) -> int:
        barrier.wait()  # every task waits for the other three: they can only pass together
        return number * 10

    assert run_all([functools.partial(task, n) for n in range(4)], max_workers=8) == [0, 10, 20, 30]


def test_run_all_never_has_more_than_max_workers_tasks_running() -> None:
    lock, running, peak = threading.Lock(), [0], [0]

    def task() -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1

    run_all([task] * 12, max_workers=3)

    assert 1 < peak[0] <= 3


def test_run_all_returns_only_once_every_task_ended() -> None:
    # No call outlives the invocation: run_all waits for the slow task even when a quick one raised.
    ended = threading.Event()

    def slow() -> None:
        time.sleep(0.05)
        ended.set()

    def broken() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        run_all([broken, slow], max_workers=2)

    assert ended.is_set()


def test_run_all_one_task_runs_in_the_callers_thread() -> None:
    assert run_all([threading.current_thread]) == [threading.current_thread()]


def fifo_records(pairs: list[tuple[str, str]]) -> list[ValidRecord]:
    records = valid([item(item_id) for _group, item_id in pairs])
    return [
        dataclasses.replace(
            r, change=dataclasses.replace(r.change, message=dataclasses.replace(r.change.message, group_id=g))
        )
        for r, (g, _id) in zip(records, pairs, strict=True)
    ]


def call_ids(call: Call) -> list[str]:
    return [record.record["itemId"] for record in call.records]


def test_chains_standard_queue_every_call_is_a_chain_of_its_own() -> None:
    calls = plan_calls(valid([item(f"sku-{i}") for i in range(35)]), targets=TARGETS, max_records=MAX).calls

    assert [len(chain) for chain in chains(calls)] == [1, 1, 1, 1]


def test_chains_fifo_calls_of_one_group_form_one_chain_in_plan_order() -> None:
    # GIVEN a FIFO round where group a needs two calls (12 records), and groups b and c one each
    pairs = [("a", f"a-{i:02d}") for i in range(12)] + [("b", "b-1"), ("c", "c-1")]
    plan = plan_fifo_round(fifo_records(pairs), targets=TARGETS, max_records=MAX)

    # THEN the calls holding group a's records are one chain, in order; the rest are chains of their own
    found = [[call_ids(call) for call in chain] for chain in chains(plan.calls)]
    linked = [chain for chain in found if any("a-00" in ids for ids in chain)]
    assert len(linked) == 1
    holding_a = [call_ids(call) for call in plan.calls if any(i.startswith("a-") for i in call_ids(call))]
    assert list(linked[0]) == holding_a
    assert sum(len(chain) for chain in found) == len(plan.calls)


def test_chains_link_calls_through_any_group_they_share() -> None:
    # call 1 holds groups a and b, call 2 holds b and c, call 3 holds c: all three depend on each other
    records = fifo_records([("a", "x-1"), ("b", "x-2"), ("b", "x-3"), ("c", "x-4"), ("c", "x-5"), ("d", "x-6")])
    calls = [
        Call(records[0].change.kind, TARGETS["item"], (), tuple(records[0:2])),
        Call(records[0].change.kind, TARGETS["item"], (), tuple(records[2:4])),
        Call(records[0].change.kind, TARGETS["item"], (), (records[4],)),
        Call(records[0].change.kind, TARGETS["item"], (), (records[5],)),
    ]

    found = chains(calls)

    assert [[call_ids(call) for call in chain] for chain in found] == [
        [["x-1", "x-2"], ["x-3", "x-4"], ["x-5"]],
        [["x-6"]],
    ]
