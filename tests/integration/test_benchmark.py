"""``make bench`` on a tiny stream: the structure and the accounting of its result, never its timings.

Machines are noisy, so no test here says how fast anything is. What must hold on any machine: both contenders
see the same stream, every message is accounted for (written, dead-lettered, lost or still queued), the
baseline sends one record per call and ours batches, and the report shows both side by side with ratios.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local import benchmark
from local.bench_results import BASELINE, OURS, RunResult, Scenario, ScenarioResult
from local.benchmark import Settings
from local.run_summary import RunSummary

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("restored_environment")]

# A dozen messages: two or three invocations per contender, a few seconds per scenario.
TINY = Settings(items=10, actions=4, seed=3)
TINY_ARGS = ["--items", "10", "--actions", "4", "--seed", "3"]


def accounted(run: RunResult) -> int:
    return run.written + run.dead_lettered + run.lost + run.still_queued


def test_benchmark_quota_scenario_accounts_for_every_message_of_both_contenders() -> None:
    # GIVEN a tiny stream of item and action changes, and Personalize's real quotas
    # WHEN the baseline and our handler each drain it from a fresh local pipeline
    result = benchmark.run_scenario(Scenario("quota"), TINY)

    # THEN both saw the same messages, and every one is accounted for
    baseline, ours = result.baseline, result.ours
    assert (baseline.contender, ours.contender) == (BASELINE, OURS)
    assert baseline.messages == ours.messages == TINY.items + TINY.actions
    assert accounted(baseline) == accounted(ours) == baseline.messages
    # our handler writes everything; the raising baseline never acknowledges a message it did not write
    assert (ours.written, ours.lost, ours.dead_lettered, ours.still_queued) == (ours.messages, 0, 0, 0)
    assert baseline.lost == 0
    # one record per call against batches: a call's records count once per accepted call
    assert baseline.records_accepted == baseline.ok_calls
    assert baseline.records_per_call == 1.0
    assert 1.0 < ours.records_per_call <= 10.0
    assert ours.ok_calls < baseline.ok_calls
    assert baseline.injected_faults == ours.injected_faults == 0
    for run in (baseline, ours):
        assert run.ok_calls <= run.put_calls
        assert run.throttled_calls <= run.put_calls - run.ok_calls
        assert run.invocations == run.summary.invocations >= 1
        assert run.wall_time_s > 0
        assert run.summary.stopped_reason == "drained"


def make_run(contender: str, **counts: float) -> RunResult:
    summary = RunSummary(
        invocations=int(counts.get("invocations", 10)),
        messages_received=100,
        messages_deleted=100,
        messages_reported_failed=0,
        batches_failed=0,
        handler_exceptions=0,
        invalid_responses=0,
        timeouts=0,
        fifo_order_violations=0,
        delete_errors=0,
        poll_errors=0,
        peak_concurrency=2,
        stopped_reason="drained",
        wall_time_s=float(counts.get("wall_time_s", 1.0)),
    )
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
    }
    fields.update(counts)
    return RunResult(contender=contender, retry_policy="-", summary=summary, **fields)


def table_row(table: str, label: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(label))
    return line[len(label) :].split()


def test_benchmark_table_puts_contenders_side_by_side_with_ratio_ours_over_baseline() -> None:
    # GIVEN a baseline that wrote 100 records in 10 s with 100 calls, and ours that did it in 2 s with 20 calls
    result = ScenarioResult(
        scenario=Scenario("quota"),
        baseline=make_run(BASELINE, wall_time_s=10.0, put_calls=110, throttled_calls=10),
        ours=make_run(OURS, wall_time_s=2.0, put_calls=20, ok_calls=20),
    )

    # WHEN the table is formatted
    table = benchmark.format_table(result)

    # THEN each row shows baseline, ours and ours/baseline; a zero baseline has no ratio
    assert table_row(table, "messages") == ["100", "100"]
    assert table_row(table, "Put calls") == ["110", "20", "0.18"]
    assert table_row(table, "records per accepted call") == ["1.00", "5.00", "5.00"]
    assert table_row(table, "wall time (s)") == ["10.00", "2.00", "0.20"]
    assert table_row(table, "records/s") == ["10.0", "50.0", "5.00"]
    assert table_row(table, "throttled calls (quota)") == ["10", "0", "0.00"]
    assert table_row(table, "lost (acked, not written)") == ["0", "0", "-"]


def test_benchmark_cli_faults_scenario_writes_tables_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the tiny stream, the faults scenario, and a JSON output path
    out = tmp_path / "bench.json"

    # WHEN the benchmark runs from its command line
    status = benchmark.main([*TINY_ARGS, "--scenarios", "faults", "--json", str(out)])

    # THEN our handler accounted for everything (exit 0) and the table has both columns and a ratio per row
    output = capsys.readouterr().out
    assert status == 0
    assert "scenario faults: injected throttling 10%, 5xx 5% of Put calls" in output
    assert [BASELINE, OURS, "ours/baseline"] in [line.split() for line in output.splitlines()]
    for label in ("messages", "Put calls", "records per accepted call", "throttled calls (quota)", "records/s"):
        assert len(table_row(output, label)) >= 2
    # AND the JSON holds the same runs, with the faults drawn and every message accounted for
    (scenario,) = json.loads(out.read_text())
    assert scenario["scenario"] == "faults"
    for contender in (BASELINE, OURS):
        run = scenario[contender]
        assert run["messages"] == TINY.items + TINY.actions
        assert run["written"] + run["dead_lettered"] + run["lost"] + run["still_queued"] == run["messages"]
        assert run["summary"]["invocations"] == run["invocations"]
    assert scenario[OURS]["lost"] == 0
    assert scenario[BASELINE]["records_per_call"] == 1.0
