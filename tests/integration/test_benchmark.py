"""``make bench`` on tiny streams: the structure and the accounting of its result, never its timings.

Machines are noisy, so no test here says how fast anything is. What must hold on any machine: both contenders
see the same stream, every message is accounted for (written, dead-lettered, lost or still queued), the
baseline sends one record per call and ours batches, and the report shows both beside the limit, with ratios.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from local import bench_scenarios, benchmark
from local.bench_bulk import bulk_changes
from local.bench_results import (
    BASELINE,
    OURS,
    RunResult,
    Scenario,
    ScenarioResult,
    calls_in_flight,
    fifo_limit_records_per_second,
    limit_records_per_second,
    sustained_rate,
)
from local.bench_streams import mixed_stream, session_events
from local.demo import ACCEPT, Published, publish
from local.emulator import EmulatorConfig
from local.environment import LocalPipeline

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("restored_environment")]

# The cdk.json defaults, on a few dozen messages.
TINY = replace(bench_scenarios.defaults_from_cdk_json(), **bench_scenarios.QUICK)


def accounted(run: RunResult) -> int:
    return run.written + run.dead_lettered + run.lost + run.still_queued


def test_benchmark_quota_mix_accounts_for_every_message_of_both_contenders() -> None:
    # GIVEN a tiny backlog of items, actions and users, and Personalize's real quotas
    # WHEN the baseline and our handler each drain it from a fresh local pipeline
    result = benchmark.run_scenario(bench_scenarios.SCENARIOS["quota-mix"], TINY)

    # THEN both saw the same messages, and every one is accounted for
    baseline, ours = result.baseline, result.ours
    assert (baseline.contender, ours.contender) == (BASELINE, OURS)
    assert baseline.messages == ours.messages == TINY.items + TINY.actions + TINY.users
    assert accounted(baseline) == accounted(ours) == baseline.messages
    # our handler writes everything; the raising baseline never acknowledges a message it did not write
    assert (ours.written, ours.lost, ours.dead_lettered, ours.still_queued) == (ours.messages, 0, 0, 0)
    assert baseline.lost == 0
    # one record per call against full calls
    assert baseline.records_accepted == baseline.ok_calls
    assert baseline.records_per_call == 1.0
    assert 1.0 < ours.records_per_call <= 10.0
    assert ours.ok_calls < baseline.ok_calls
    # on the standard queue of a deployment that sets no queueType
    assert (ours.fifo_queue, baseline.fifo_queue) == (False, False)
    # the limit is the mix's: items drain at 100 records/s, actions and users beside them
    assert ours.limit_per_second == pytest.approx(90 / (60 / 100))
    for run in (baseline, ours):
        assert run.ok_calls <= run.put_calls
        assert run.throttled_calls <= run.put_calls - run.ok_calls
        assert run.summary is not None
        assert run.invocations == run.summary.invocations >= 1
        assert run.wall_time_s > 0


def test_benchmark_quota_mix_fifo_drains_a_fifo_queue_in_batches_of_ten_and_accounts_for_every_message() -> None:
    # GIVEN the mixed backlog of quota-mix, on a FIFO ingest queue, at the cdk.json defaults (batches of 250 with a
    # window of 1 s, which a FIFO queue does not take)
    scenario = bench_scenarios.SCENARIOS["quota-mix-fifo"]
    assert bench_scenarios.stream_for(scenario, TINY) == bench_scenarios.stream_for(
        bench_scenarios.SCENARIOS["quota-mix"], TINY
    )
    assert TINY.batch_size > 10
    assert TINY.batching_window_s > 0

    # WHEN the baseline and our handler each drain it from a fresh local pipeline
    result = benchmark.run_scenario(scenario, TINY)

    # THEN both drained a queue SQS describes as FIFO, in invocations of at most 10 records, and every message is
    # accounted for
    baseline, ours = result.baseline, result.ours
    messages = TINY.items + TINY.actions + TINY.users
    assert (baseline.fifo_queue, ours.fifo_queue) == (True, True)
    assert baseline.messages == ours.messages == messages
    assert accounted(baseline) == accounted(ours) == messages
    assert (ours.written, ours.lost, ours.dead_lettered, ours.still_queued) == (messages, 0, 0, 0)
    assert baseline.lost == 0
    for run in (baseline, ours):
        assert run.summary is not None
        assert run.summary.fifo_order_violations == 0
        assert 1 <= run.largest_batch <= 10
        assert run.invocations == run.summary.invocations >= 1
    # AND ours puts what a batch of 10 holds of one kind in one call, at most 10 records; the baseline one each
    assert 1.0 < ours.records_per_call <= 10.0
    assert baseline.records_per_call == 1.0
    # AND the table says which event source ours ran with, beside the limit of full calls and the FIFO ceiling
    assert ours.limit_per_second == pytest.approx(90 / (60 / 100))
    queue = f"FIFO; ours: batch size 10, window 0 s, concurrency {TINY.concurrency}"
    assert result.notes["queue"] == queue
    lines = benchmark.format_table(result).splitlines()
    assert lines[0].startswith("scenario quota-mix-fifo:")
    assert f"  queue: {queue}" in lines
    assert "  FIFO ceiling (records/s, batches of 10 in order): 100.0" in lines


def published(kinds: str) -> list[Published]:
    """One message per letter of ``kinds`` (i: item, a: action), each id once."""
    names = {"i": "item", "a": "action"}
    return [Published(names[kind], "{}", ACCEPT, f"{kind}-{index}") for index, kind in enumerate(kinds)]


def test_benchmark_fifo_ceiling_counts_a_call_per_kind_in_each_batch() -> None:
    # GIVEN 20 items and 10 actions arriving as a batch of 10 items, then two of 5 items and 5 actions
    stream = published("i" * 10 + "iiiiiaaaaa" * 2)

    # THEN with full calls, items take 2 PutItems calls (0.2 s at 10 calls/s): 30 records in 0.2 s; in batches of
    # 10, every batch makes a PutItems call of its own (3 calls, 0.3 s) and the actions 2: 30 records in 0.3 s
    assert limit_records_per_second(stream) == pytest.approx(150)
    assert fifo_limit_records_per_second(stream, 10) == pytest.approx(100)
    # AND a stream of one kind fills its calls in batches of 10 as well as it can at all
    assert fifo_limit_records_per_second(published("i" * 100), 10) == limit_records_per_second(published("i" * 100))


def test_benchmark_publish_to_a_fifo_queue_sends_each_record_in_a_group_of_its_own() -> None:
    # GIVEN a FIFO ingest queue and a shuffled backlog of items, actions and users
    stream = mixed_stream(items=12, actions=4, users=4, seed=3)
    with LocalPipeline(kinds=("item",), emulator_config=EmulatorConfig(create_delay=0.0), fifo=True) as pipeline:
        # WHEN it is published for the FIFO scenario
        sent = publish(pipeline, stream)

        # THEN SQS holds every message once, each in the group of its record (as the project's publisher names it)
        received: list[tuple[str, str]] = []
        while batch := pipeline.sqs.receive_message(
            QueueUrl=pipeline.queues.url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        ).get("Messages", []):
            received += [(message["Body"], message["Attributes"]["MessageGroupId"]) for message in batch]

    assert sorted(message.body for message in sent.values()) == sorted(message.body for message in stream)
    assert sorted(received) == sorted((message.body, f"{message.kind}#{message.record_id}") for message in stream)


def test_benchmark_latency_direct_invokes_one_environment_and_overlaps_calls() -> None:
    # GIVEN session events and an emulator that takes 30 ms per call
    # WHEN one environment of ours is invoked directly with them, and the baseline too
    result = benchmark.run_scenario(bench_scenarios.SCENARIOS["latency-30-direct"], TINY)

    # THEN ours wrote every event, several calls at once, and the baseline one call at a time
    ours, baseline = result.ours, result.baseline
    assert (ours.written, ours.lost, ours.messages) == (TINY.events, 0, TINY.events)
    assert ours.summary is None
    assert ours.max_in_flight > 1
    assert baseline.max_in_flight == 1
    assert baseline.written == baseline.messages <= TINY.events


def make_run(contender: str, **counts: Any) -> RunResult:
    fields: dict[str, Any] = {
        "messages": 100,
        "written": 100,
        "dead_lettered": 0,
        "still_queued": 0,
        "lost": 0,
        "put_calls": 100,
        "ok_calls": 100,
        "records_accepted": 100,
        "throttled_calls": 0,
        "injected_faults": 0,
        "invocations": 10,
        "wall_time_s": 1.0,
        "limit_per_second": 100.0,
    }
    fields.update(counts)
    return RunResult(contender=contender, retry_policy="-", **fields)


def test_benchmark_alone_drains_with_one_environment_paced_to_its_share_of_the_fleet() -> None:
    # GIVEN the scenario of one busy environment among the maximum concurrency (two at the defaults)
    scenario = bench_scenarios.SCENARIOS["quota-items-alone"]

    # THEN one environment drains, while the handlers' share still counts the whole fleet
    assert benchmark.busy_environments(scenario, TINY) == 1
    assert benchmark.busy_environments(bench_scenarios.SCENARIOS["quota-items"], TINY) == TINY.concurrency == 2

    # WHEN both contenders drain a tiny backlog that way, every message is accounted for
    result = benchmark.run_scenario(scenario, TINY)
    assert (result.ours.written, result.ours.lost, result.ours.still_queued) == (TINY.items, 0, 0)
    assert accounted(result.baseline) == TINY.items


def test_benchmark_sustained_figures_leave_out_the_first_and_last_tenth_of_the_busiest_api() -> None:
    # GIVEN a call log of PutItems over 10 s: a throttle at the cold start and one in the middle, PutUsers aside
    calls: list[dict[str, Any]] = [
        {"api": "PutItems", "time": float(second), "error": None, "fault": None} for second in range(11)
    ]
    calls += [
        {"api": "PutItems", "time": 0.5, "error": "ThrottlingException", "fault": None},
        {"api": "PutItems", "time": 5.5, "error": "ThrottlingException", "fault": None},
        {"api": "PutItems", "time": 6.5, "error": "ThrottlingException", "fault": "throttle"},
        {"api": "PutUsers", "time": 5.0, "error": "ThrottlingException", "fault": None},
    ]

    # WHEN the sustained figures are taken
    sustained = sustained_rate(calls)

    # THEN they cover 1 s .. 9 s of PutItems: 9 accepted calls in 8 s, one quota throttle among 10 calls (the
    # injected throttle and PutUsers' are not the quota's refusals of PutItems)
    assert sustained.calls_per_second == pytest.approx(9 / 8)
    assert sustained.throttled_fraction == pytest.approx(1 / 10)
    assert sustained.quota == 10


def table_row(table: str, label: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(label))
    return line[len(label) :].split()


def test_benchmark_table_puts_baseline_ours_and_the_limit_side_by_side() -> None:
    # GIVEN a baseline that wrote 100 records in 10 s with 100 calls, and ours that did it in 2 s with 20 calls
    result = ScenarioResult(
        scenario=Scenario("quota-items", "items"),
        baseline=make_run(BASELINE, wall_time_s=10.0, put_calls=110, throttled_calls=10),
        ours=make_run(OURS, wall_time_s=2.0, put_calls=20, ok_calls=20),
    )

    # WHEN the table is formatted
    table = benchmark.format_table(result)

    # THEN each row shows baseline, ours, the limit where there is one, ours/baseline and ours/limit
    assert table_row(table, "messages") == ["100", "100", "1.00"]
    assert table_row(table, "records/s") == ["10.0", "50.0", "100.0", "5.00", "0.50"]
    assert table_row(table, "records per accepted call") == ["1.00", "5.00", "10.00", "5.00", "0.50"]
    assert table_row(table, "Put calls") == ["110", "20", "0.18"]
    assert table_row(table, "throttled calls (quota)") == ["10", "0", "0", "0.00"]
    assert table_row(table, "lost (acked, not written)") == ["0", "0", "0", "-"]


def test_benchmark_limit_is_the_slowest_apis_drain_at_full_calls() -> None:
    assert limit_records_per_second(mixed_stream(items=1000, actions=250, users=250, seed=1)) == pytest.approx(150)
    assert limit_records_per_second(mixed_stream(items=100, seed=1)) == pytest.approx(100)
    assert limit_records_per_second(session_events(events=100, sessions=10, seed=1)) == pytest.approx(10_000)


def test_benchmark_calls_in_flight_counts_overlapping_calls_of_the_call_log() -> None:
    calls = [
        {"time": 1.0, "durationMs": 500},  # 0.5 .. 1.0
        {"time": 1.2, "durationMs": 500},  # 0.7 .. 1.2
        {"time": 1.3, "durationMs": 200},  # 1.1 .. 1.3
        {"time": 2.0, "durationMs": 100},  # 1.9 .. 2.0
    ]

    assert calls_in_flight(calls) == 2
    assert calls_in_flight([]) == 0


def test_benchmark_session_events_interleave_sessions_in_each_sessions_order() -> None:
    stream = session_events(events=50, sessions=10, seed=4)

    sessions = [json.loads(message.body)["sessionId"] for message in stream]
    assert len(stream) == 50
    assert len(set(sessions)) == 10
    assert sessions != sorted(sessions)  # interleaved
    for session in set(sessions):
        ids = [str(message.record_id) for message in stream if json.loads(message.body)["sessionId"] == session]
        assert ids == sorted(ids)


def test_benchmark_cli_quick_writes_tables_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the quick mode, the faults scenario, the CPU measurement and the bulk path, and a JSON output path
    out = tmp_path / "bench.json"

    # WHEN the benchmark runs from its command line
    status = benchmark.main(["--quick", "--scenarios", "faults,cpu-items,bulk", "--json", str(out)])

    # THEN our handler accounted for everything (exit 0) and the tables have the three columns and ratios
    output = capsys.readouterr().out
    assert status == 0
    assert "scenario faults: the mixed backlog with faults injected (injected throttling 5%, 5xx 5%" in output
    assert [BASELINE, OURS, "limit", "ours/baseline", "ours/limit"] in [line.split() for line in output.splitlines()]
    for label in ("messages", "Put calls", "records per accepted call", "throttled calls (quota)", "records/s"):
        assert len(table_row(output, label)) >= 2
    # AND the JSON holds the settings and the same runs, every message accounted for
    document = json.loads(out.read_text())
    assert document["settings"]["batch_size"] == TINY.batch_size
    faults, cpu = document["scenarios"]
    assert (faults["scenario"], cpu["scenario"]) == ("faults", "cpu-items")
    for contender in (BASELINE, OURS):
        run = faults[contender]
        assert run["written"] + run["dead_lettered"] + run["lost"] + run["still_queued"] == run["messages"]
        assert cpu[contender]["cpu_ms_per_record"] > 0
        # Every message was written by a metered Put* call, and its CPU splits into inside and outside the calls
        assert 0 < cpu[contender]["put_calls"] <= cpu[contender]["messages"]
        assert 0 < cpu[contender]["sdk_cpu_ms_per_call"] < cpu[contender]["cpu_ms_per_call"]
        assert cpu[contender]["own_cpu_ms_per_record"] > 0
    # The baseline sends one record a call; ours fills them (the quick items are 10 of one kind)
    assert cpu[BASELINE]["put_calls"] == cpu[BASELINE]["messages"]
    assert cpu[OURS]["put_calls"] < cpu[BASELINE]["put_calls"]
    assert faults[OURS]["lost"] == 0
    assert faults[OURS]["injected_faults"] > 0
    assert faults[BASELINE]["records_per_call"] == 1.0
    # AND the bulk scenario's table and JSON: every change read is imported, superseded or rejected
    changes = TINY.bulk_changes
    assert f"scenario bulk: {changes} item changes through backfill's bulk stage" in output
    assert ["bulk", "Put", "limit", "bulk/Put"] in [line.split() for line in output.splitlines()]
    records_per_second, ceiling, ratio = table_row(output, "records/s (bulk stage)")
    assert float(ceiling) == 100.0
    assert float(records_per_second) > 0
    assert float(ratio) > 0
    read, imported, superseded, rejected = (
        int(table_row(output, label)[0])
        for label in ("changes read", "records imported", "older changes superseded", "rejected")
    )
    assert (read, rejected) == (changes, 0)
    assert imported + superseded + rejected == read
    assert superseded == changes // 5
    bulk = document["bulk"]
    assert (bulk["lines"], bulk["imported"], bulk["superseded"], bulk["rejected"]) == (
        read,
        imported,
        superseded,
        rejected,
    )
    assert bulk["accounted"] is True
    assert [(job["status"], job["records"]) for job in bulk["jobs"]] == [("ACTIVE", imported)]
    assert bulk["put_ceiling_per_second"] == 100.0


def test_benchmark_bulk_changes_collapse_to_one_record_per_item() -> None:
    bodies = bulk_changes(100, seed=2)

    item_ids = [json.loads(body)["itemId"] for body in bodies]
    assert len(bodies) == 100
    assert len(set(item_ids)) == 80


def test_benchmark_cpu_table_splits_the_cpu_between_the_calls_and_the_handler_and_leaves_out_the_call_log() -> None:
    # GIVEN a CPU measurement of 100 records: the emulator answered from another process, so its call log counted
    # nothing, but botocore's calls were metered (baseline 100 calls at 0.8 ms, 0.6 of it inside the call; ours 10
    # calls at 2.0 ms, 1.5 of it inside)
    result = ScenarioResult(
        scenario=Scenario("cpu-items", "items", direct=True),
        baseline=make_run(
            BASELINE,
            put_calls=100,
            ok_calls=0,
            records_accepted=0,
            cpu_ms_per_record=0.8,
            cpu_ms_per_call=0.8,
            sdk_cpu_ms_per_call=0.6,
        ),
        ours=make_run(
            OURS,
            put_calls=10,
            ok_calls=0,
            records_accepted=0,
            cpu_ms_per_record=0.2,
            cpu_ms_per_call=2.0,
            sdk_cpu_ms_per_call=1.5,
        ),
    )

    # WHEN the table is formatted
    table = benchmark.format_table(result)

    # THEN it shows the CPU per record, per call, inside the calls, and per record outside them (ours: 0.5 ms x 10
    # calls over 100 records; the baseline: 0.2 ms x 100 calls over 100 records)
    assert table_row(table, "CPU ms per record")[:3] == ["0.800", "0.200", "0.25"]
    assert table_row(table, "Put calls")[:2] == ["100", "10"]
    assert table_row(table, "CPU ms per Put call")[:2] == ["0.800", "2.000"]
    assert table_row(table, "  of it inside the call (SDK)")[:2] == ["0.600", "1.500"]
    assert table_row(table, "CPU ms per record, SDK aside")[:2] == ["0.200", "0.050"]
    assert result.ours.to_dict()["own_cpu_ms_per_record"] == 0.05
    assert table_row(table, "records/s")[:2] == ["100.0", "100.0"]
    # AND no row made of the call log it did not read
    for label in ("records per accepted call", "sustained calls/s", "throttled", "calls in flight"):
        assert not [line for line in table.splitlines() if line.startswith(label)]
