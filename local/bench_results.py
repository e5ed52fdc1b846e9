"""The benchmark's results: what became of the stream under each contender, and the side-by-side table.

Counts come from the emulator's records and call log and from the queues, not from what the handlers say.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from contract import KIND_SPECS
from local.run_summary import RunSummary

if TYPE_CHECKING:
    from local.demo import Published
    from local.environment import LocalPipeline

__all__ = ["BASELINE", "OURS", "RunResult", "Scenario", "ScenarioResult", "account_run", "format_table"]

BASELINE = "baseline"
OURS = "ours"


@dataclass(frozen=True, slots=True)
class Scenario:
    """Emulator faults for one side-by-side comparison, and how the baseline treats a failed call.

    Attributes
    ----------
    name:
        ``quota`` or ``faults``.
    throttle_rate, server_error_rate:
        Injected faults per Put call.
    swallow_errors:
        The baseline's flavour (``BaselineHandler``): the public attempts come in both.
    """

    name: str
    throttle_rate: float = 0.0
    server_error_rate: float = 0.0
    swallow_errors: bool = False


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one contender did to the stream. Counts come from the emulator's call log and the queues.

    Attributes
    ----------
    messages:
        Messages published.
    written:
        Messages whose record Personalize (the emulator) holds.
    dead_lettered:
        Messages in the dead-letter queue and not written (the handler's, or moved by the redrive policy).
    still_queued:
        Messages left in the ingest queue when the run stopped (only when it hit ``max_seconds``).
    lost:
        The rest: acknowledged without being written or dead-lettered.
    put_calls, ok_calls:
        Put* calls made, and those Personalize accepted.
    records_accepted:
        Records in accepted calls (re-sends of a record counted again).
    throttled_calls:
        Calls refused by the quota (injected throttling not counted: see ``injected_faults``).
    injected_faults:
        Calls answered with an injected throttle or 5xx.
    invocations, wall_time_s:
        Handler invocations; seconds from the start of the drain to the end of the last invocation.
    retry_policy:
        The SDK retry settings the handler's client used.
    summary:
        The runner's own summary.
    """

    contender: str
    messages: int
    written: int
    dead_lettered: int
    still_queued: int
    lost: int
    put_calls: int
    ok_calls: int
    records_accepted: int
    throttled_calls: int
    injected_faults: int
    invocations: int
    wall_time_s: float
    retry_policy: str
    summary: RunSummary

    @property
    def records_per_call(self) -> float:
        """Records per accepted Put call."""
        return self.records_accepted / self.ok_calls if self.ok_calls else 0.0

    @property
    def records_per_second(self) -> float:
        """Messages written per second of drain."""
        return self.written / self.wall_time_s if self.wall_time_s else 0.0

    def to_dict(self) -> dict[str, object]:
        """The result as a JSON-ready dict."""
        data: dict[str, object] = {
            name: getattr(self, name) for name in self.__dataclass_fields__ if name not in {"summary"}
        }
        data["records_per_call"] = round(self.records_per_call, 3)
        data["records_per_second"] = round(self.records_per_second, 3)
        data["summary"] = self.summary.to_dict()
        return data


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    """Both contenders on one scenario."""

    scenario: Scenario
    baseline: RunResult
    ours: RunResult


def account_run(
    pipeline: LocalPipeline,
    *,
    contender: str,
    sent: dict[str, Published],
    summary: RunSummary,
    wall_time_s: float,
    retry_policy: str,
) -> RunResult:
    """Count what became of every message, from the emulator's records and call log and the queues."""
    stored: set[str] = set()
    for kind, dataset_arn in pipeline.provisioned.datasets.items():
        id_field = KIND_SPECS[kind].id_field or ""
        stored.update(record[id_field] for record in pipeline.emulator.state.records(dataset_arn))
    # Bodies are unique (one change per id), so a dead letter is matched by body: the redrive policy moves a
    # message without the SourceMessageId attribute our handler adds.
    letters = {letter["body"] for letter in pipeline.dead_letters()}
    written = sum(1 for message in sent.values() if message.record_id in stored)
    dead_lettered = sum(1 for message in sent.values() if message.record_id not in stored and message.body in letters)
    still_queued = pipeline.queue_depth()
    apis = {KIND_SPECS[kind].api for kind in pipeline.provisioned.datasets}
    calls = [call for call in pipeline.emulator.state.calls() if call["api"] in apis]
    ok = [call for call in calls if call["error"] is None]
    return RunResult(
        contender=contender,
        messages=len(sent),
        written=written,
        dead_lettered=dead_lettered,
        still_queued=still_queued,
        lost=max(0, len(sent) - written - dead_lettered - still_queued),
        put_calls=len(calls),
        ok_calls=len(ok),
        records_accepted=sum(call["records"] for call in ok),
        throttled_calls=sum(1 for call in calls if call["error"] == "ThrottlingException" and call["fault"] is None),
        injected_faults=sum(1 for call in calls if call["fault"] is not None),
        invocations=summary.invocations,
        wall_time_s=round(wall_time_s, 3),
        retry_policy=retry_policy,
        summary=summary,
    )


# --- The report --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Row:
    label: str
    value: Callable[[RunResult], float]
    fmt: str = "{:.0f}"
    ratio: bool = True


_ROWS = (
    _Row("messages", lambda r: r.messages, ratio=False),
    _Row("written to Personalize", lambda r: r.written),
    _Row("dead-lettered", lambda r: r.dead_lettered),
    _Row("lost (acked, not written)", lambda r: r.lost),
    _Row("still queued at stop", lambda r: r.still_queued),
    _Row("Put calls", lambda r: r.put_calls),
    _Row("records per accepted call", lambda r: r.records_per_call, "{:.2f}"),
    _Row("throttled calls (quota)", lambda r: r.throttled_calls),
    _Row("injected faults", lambda r: r.injected_faults),
    _Row("invocations", lambda r: r.invocations),
    _Row("wall time (s)", lambda r: r.wall_time_s, "{:.2f}"),
    _Row("records/s", lambda r: r.records_per_second, "{:.1f}"),
)


def _ratio(ours: float, baseline: float) -> str:
    if baseline == 0:
        return "-" if ours == 0 else "n/a"
    return f"{ours / baseline:.2f}"


def format_table(result: ScenarioResult) -> str:
    """One scenario's numbers, baseline and ours side by side, with the ratio ours/baseline."""
    scenario = result.scenario
    faults = (
        f"injected throttling {scenario.throttle_rate:.0%}, 5xx {scenario.server_error_rate:.0%} of Put calls"
        if scenario.throttle_rate or scenario.server_error_rate
        else "no injected faults"
    )
    flavour = "logs a failed call and goes on" if scenario.swallow_errors else "raises on a failed call (batch retried)"
    lines = [
        f"scenario {scenario.name}: {faults}; the baseline {flavour}",
        f"{'':<28}{BASELINE:>10}{OURS:>10}{'ours/baseline':>15}",
    ]
    for row in _ROWS:
        baseline, ours = row.value(result.baseline), row.value(result.ours)
        ratio = _ratio(ours, baseline) if row.ratio else ""
        lines.append(f"{row.label:<28}{row.fmt.format(baseline):>10}{row.fmt.format(ours):>10}{ratio:>15}")
    return "\n".join(lines)
