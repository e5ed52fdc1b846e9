"""The benchmark's results: what became of a stream under each contender, against the physical limit.

Counts come from the emulator's records and call log and from the queues, not from what the handlers say.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from contract import KIND_SPECS, KINDS_BY_API, RECORDS_PER_CALL
from local.run_summary import RunSummary

if TYPE_CHECKING:
    from local.demo import Published
    from local.environment import LocalPipeline

__all__ = [
    "BASELINE",
    "OURS",
    "RunResult",
    "Scenario",
    "ScenarioResult",
    "account_run",
    "calls_in_flight",
    "fifo_limit_records_per_second",
    "format_table",
    "limit_records_per_second",
]

BASELINE = "baseline"
OURS = "ours"


@dataclass(frozen=True, slots=True)
class Scenario:
    """One side-by-side comparison: a stream, the emulator's faults and latency, and how the handlers run.

    Attributes
    ----------
    name:
        ``quota-items``, ``quota-mix``, ``latency-0``... (``local.bench_scenarios.SCENARIOS``).
    description:
        What the stream is, for the table's heading.
    stream:
        ``items``, ``mix`` or ``events`` (``local.benchmark``).
    throttle_rate, server_error_rate:
        Injected faults per Put call.
    latency_s:
        Seconds the emulator takes to answer each call.
    direct:
        Invoke one execution environment directly with batches of the stream, no SQS in the way; otherwise the
        local event source runner drains a queue with the cdk.json defaults.
    swallow_errors:
        The baseline's flavour (``BaselineHandler``): the public attempts come in both.
    busy:
        Execution environments that drain the queue (None: the maximum concurrency). Each still paces to its share
        of the maximum concurrency: fewer busy than that is the fleet with idle environments.
    fifo:
        Publish to a FIFO ingest queue, each message in its record's group, and drain it within Lambda's FIFO
        limits (batches of at most 10, no window); otherwise a standard queue.
    """

    name: str
    description: str = ""
    stream: str = "mix"
    throttle_rate: float = 0.0
    server_error_rate: float = 0.0
    latency_s: float = 0.0
    direct: bool = False
    swallow_errors: bool = False
    busy: int | None = None
    fifo: bool = False


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one contender did to the stream.

    Attributes
    ----------
    messages:
        Messages published (or handed over, when invoked directly).
    written:
        Messages whose record Personalize (the emulator) holds.
    dead_lettered:
        Messages in the dead-letter queue and not written (the handler's, or moved by the redrive policy).
    still_queued:
        Messages left in the ingest queue when the run stopped (it hit its time limit), not written.
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
    max_in_flight:
        The most Put* calls the emulator was answering at once.
    sustained_calls_per_second, sustained_throttled_fraction:
        Accepted calls per second of the busiest API over the middle 80 % of its active span (the drain's start
        and end, when environments cold-start or run out of work, left out): its use of ``busiest_quota``; and the
        share of that API's calls in the span that the quota refused.
    limit_per_second:
        The physical limit for this stream: records per second at the quotas, full calls.
    retry_policy:
        The SDK retry settings the handler's client used.
    cpu_ms_per_record:
        CPU time of the handler's process per record (set by the CPU measurement only).
    cpu_ms_per_call, sdk_cpu_ms_per_call:
        The same CPU per Put* call, and the part of it spent inside the calls: botocore, the HTTP stack and the GIL
        handoffs of their socket waits (``local.bench_direct.metered_put_calls``; the CPU measurement only).
    fifo_queue:
        Whether the ingest queue drained was a FIFO queue, as SQS describes it (its ``FifoQueue`` attribute).
    largest_batch:
        The most records one invocation received (0 when not counted).
    summary:
        The runner's own summary (None when invoked directly).
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
    max_in_flight: int = 0
    sustained_calls_per_second: float = 0.0
    sustained_throttled_fraction: float = 0.0
    busiest_quota: float = 0.0
    limit_per_second: float = 0.0
    cpu_ms_per_record: float | None = None
    cpu_ms_per_call: float | None = None
    sdk_cpu_ms_per_call: float | None = None
    fifo_queue: bool = False
    largest_batch: int = 0
    summary: RunSummary | None = None

    @property
    def records_per_call(self) -> float:
        """Records per accepted Put call."""
        return self.records_accepted / self.ok_calls if self.ok_calls else 0.0

    @property
    def records_per_second(self) -> float:
        """Messages written per second of drain."""
        return self.written / self.wall_time_s if self.wall_time_s else 0.0

    @property
    def own_cpu_ms_per_record(self) -> float | None:
        """CPU per record outside the Put* calls: the handler's own work (decoding, validating, planning, pacing,
        settling, the pool's threads), the SDK's aside."""
        if self.cpu_ms_per_call is None or self.sdk_cpu_ms_per_call is None or not self.messages:
            return None
        outside_ms = (self.cpu_ms_per_call - self.sdk_cpu_ms_per_call) * self.put_calls
        return outside_ms / self.messages

    @property
    def throttled_fraction(self) -> float:
        """Calls refused by the quota, as a fraction of every call made."""
        return self.throttled_calls / self.put_calls if self.put_calls else 0.0

    def to_dict(self) -> dict[str, object]:
        """The result as a JSON-ready dict."""
        data: dict[str, object] = {
            item.name: getattr(self, item.name) for item in dataclasses.fields(self) if item.name != "summary"
        }
        data["records_per_call"] = round(self.records_per_call, 3)
        data["records_per_second"] = round(self.records_per_second, 3)
        data["throttled_fraction"] = round(self.throttled_fraction, 4)
        own = self.own_cpu_ms_per_record
        data["own_cpu_ms_per_record"] = round(own, 4) if own is not None else None
        data["fraction_of_limit"] = (
            round(self.records_per_second / self.limit_per_second, 3) if self.limit_per_second else None
        )
        data["summary"] = self.summary.to_dict() if self.summary is not None else None
        return data


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    """Both contenders on one scenario."""

    scenario: Scenario
    baseline: RunResult
    ours: RunResult
    notes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """The scenario as a JSON-ready dict."""
        return {
            "scenario": self.scenario.name,
            "description": self.scenario.description,
            BASELINE: self.baseline.to_dict(),
            OURS: self.ours.to_dict(),
            **self.notes,
        }


def limit_records_per_second(stream: Sequence[Published]) -> float:
    """Records per second at the quotas with full calls: each API drains its share of the stream at quota x 10
    records per second, in parallel, so the stream takes as long as its slowest API."""
    counts: dict[str, int] = {}
    for message in stream:
        counts[message.kind] = counts.get(message.kind, 0) + 1
    seconds = max(
        (count / (KIND_SPECS[kind].quota_per_second * RECORDS_PER_CALL) for kind, count in counts.items()),
        default=0.0,
    )
    return len(stream) / seconds if seconds else 0.0


def fifo_limit_records_per_second(stream: Sequence[Published], batch_size: int) -> float:
    """Records per second at the quotas when the stream arrives in batches of ``batch_size`` in its order (as a
    FIFO queue of one-message groups hands it out) and each batch's records of a kind go in as few calls as they
    fill, none held for a later batch: a FIFO queue's ceiling, below the limit of full calls."""
    calls: dict[str, int] = {}
    for start in range(0, len(stream), batch_size):
        per_kind: dict[str, int] = {}
        for message in stream[start : start + batch_size]:
            per_kind[message.kind] = per_kind.get(message.kind, 0) + 1
        for kind, count in per_kind.items():
            calls[kind] = calls.get(kind, 0) - (-count // RECORDS_PER_CALL)
    seconds = max((count / KIND_SPECS[kind].quota_per_second for kind, count in calls.items()), default=0.0)
    return len(stream) / seconds if seconds else 0.0


def calls_in_flight(calls: Sequence[dict[str, Any]]) -> int:
    """The most calls of ``calls`` (the emulator's call log) that overlapped in time."""
    edges: list[tuple[float, int]] = []
    for call in calls:
        end = float(call["time"])
        edges.append((end - float(call.get("durationMs") or 0.0) / 1000.0, 1))
        edges.append((end, -1))
    peak = current = 0
    for _time, step in sorted(edges):
        current += step
        peak = max(peak, current)
    return peak


@dataclass(frozen=True, slots=True)
class Sustained:
    """The busiest API over the middle 80 % of its active span."""

    calls_per_second: float = 0.0
    throttled_fraction: float = 0.0
    quota: float = 0.0


def sustained_rate(calls: Sequence[dict[str, Any]]) -> Sustained:
    """Accepted calls per second of the API with the most of them, over the middle 80 % of its active span, the
    share of its calls in that span the quota refused, and that API's quota."""
    by_api: dict[str, list[float]] = {}
    for call in calls:
        if call["error"] is None:
            by_api.setdefault(str(call["api"]), []).append(float(call["time"]))
    if not by_api:
        return Sustained()
    api, times = max(by_api.items(), key=lambda entry: len(entry[1]))
    times.sort()
    start, end = times[0], times[-1]
    low, high = start + 0.1 * (end - start), end - 0.1 * (end - start)
    inside = sum(1 for moment in times if low <= moment <= high)
    refused = sum(
        1 for call in calls if call["api"] == api and _quota_throttle(call) and low <= float(call["time"]) <= high
    )
    return Sustained(
        calls_per_second=inside / (high - low) if high > low else 0.0,
        throttled_fraction=refused / (inside + refused) if inside + refused else 0.0,
        quota=KINDS_BY_API[api].quota_per_second,
    )


def _quota_throttle(call: dict[str, Any]) -> bool:
    """A call the quota refused (an injected throttle is not one)."""
    return call["error"] == "ThrottlingException" and call["fault"] is None


def account_run(
    pipeline: LocalPipeline,
    *,
    contender: str,
    sent: dict[str, Published],
    wall_time_s: float,
    retry_policy: str,
    invocations: int,
    limit_per_second: float,
    summary: RunSummary | None = None,
    queued: bool = True,
) -> RunResult:
    """Count what became of every message, from the emulator's records and call log and the queues."""
    stored: set[str] = set()
    for kind, dataset_arn in pipeline.provisioned.datasets.items():
        id_field = KIND_SPECS[kind].id_field or "eventId"
        stored.update(str(record.get(id_field)) for record in pipeline.emulator.state.records(dataset_arn))
    # Bodies are unique (one change per id), so a dead letter is matched by body: the redrive policy moves a
    # message without the SourceMessageId attribute our handler adds.
    letters = {letter["body"] for letter in pipeline.dead_letters()} if queued else set()
    written = sum(1 for message in sent.values() if message.record_id in stored)
    dead_lettered = sum(1 for message in sent.values() if message.record_id not in stored and message.body in letters)
    # A message written by a batch that then failed is still in the queue, and counts as written.
    still_queued = min(pipeline.queue_depth(), len(sent) - written - dead_lettered) if queued else 0
    apis = {KIND_SPECS[kind].api for kind in pipeline.provisioned.datasets}
    calls = [call for call in pipeline.emulator.state.calls() if call["api"] in apis]
    ok = [call for call in calls if call["error"] is None]
    sustained = sustained_rate(calls)
    fifo_queue = queued and _is_fifo(pipeline)
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
        throttled_calls=sum(1 for call in calls if _quota_throttle(call)),
        injected_faults=sum(1 for call in calls if call["fault"] is not None),
        invocations=invocations,
        wall_time_s=round(wall_time_s, 3),
        retry_policy=retry_policy,
        max_in_flight=calls_in_flight(calls),
        sustained_calls_per_second=round(sustained.calls_per_second, 3),
        sustained_throttled_fraction=round(sustained.throttled_fraction, 4),
        busiest_quota=sustained.quota,
        limit_per_second=round(limit_per_second, 3),
        fifo_queue=fifo_queue,
        summary=summary,
    )


def _is_fifo(pipeline: LocalPipeline) -> bool:
    attributes = pipeline.sqs.get_queue_attributes(QueueUrl=pipeline.queues.url, AttributeNames=["FifoQueue"])
    # A standard queue has no FifoQueue attribute (moto then answers without Attributes at all).
    return attributes.get("Attributes", {}).get("FifoQueue") == "true"


# --- The report --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Row:
    label: str
    value: Callable[[RunResult], float | None]
    fmt: str = "{:.0f}"
    limit: Callable[[RunResult], float | None] = lambda _run: None
    # From the emulator's call log, which the CPU measurement does not count (its emulator is another process's).
    from_calls: bool = False


def _busiest_quota(run: RunResult) -> float | None:
    return run.busiest_quota or None


_ROWS = (
    _Row("messages", lambda r: r.messages),
    _Row("written to Personalize", lambda r: r.written),
    _Row("dead-lettered", lambda r: r.dead_lettered),
    _Row("lost (acked, not written)", lambda r: r.lost, limit=lambda _r: 0),
    _Row("still queued at stop", lambda r: r.still_queued),
    _Row("records/s", lambda r: r.records_per_second, "{:.1f}", limit=lambda r: r.limit_per_second or None),
    _Row(
        "records per accepted call",
        lambda r: r.records_per_call,
        "{:.2f}",
        limit=lambda _r: RECORDS_PER_CALL,
        from_calls=True,
    ),
    # The CPU measurement counts its calls itself (local.bench_direct.metered_put_calls).
    _Row("Put calls", lambda r: r.put_calls),
    _Row(
        "sustained calls/s (busiest)",
        lambda r: r.sustained_calls_per_second,
        "{:.2f}",
        limit=_busiest_quota,
        from_calls=True,
    ),
    _Row("throttled calls (quota)", lambda r: r.throttled_calls, limit=lambda _r: 0, from_calls=True),
    _Row("throttled % of calls", lambda r: 100 * r.throttled_fraction, "{:.1f}", limit=lambda _r: 0, from_calls=True),
    _Row(
        "throttled % (sustained)",
        lambda r: 100 * r.sustained_throttled_fraction,
        "{:.1f}",
        limit=lambda _r: 0,
        from_calls=True,
    ),
    _Row("injected faults", lambda r: r.injected_faults, from_calls=True),
    _Row("calls in flight (max)", lambda r: r.max_in_flight, from_calls=True),
    _Row("invocations", lambda r: r.invocations),
    _Row("wall time (s)", lambda r: r.wall_time_s, "{:.2f}"),
    _Row("CPU ms per record", lambda r: r.cpu_ms_per_record, "{:.3f}"),
    _Row("CPU ms per Put call", lambda r: r.cpu_ms_per_call, "{:.3f}"),
    _Row("  of it inside the call (SDK)", lambda r: r.sdk_cpu_ms_per_call, "{:.3f}"),
    _Row("CPU ms per record, SDK aside", lambda r: r.own_cpu_ms_per_record, "{:.3f}"),
)


def _ratio(ours: float | None, other: float | None) -> str:
    if ours is None or other is None:
        return ""
    if other == 0:
        return "-" if ours == 0 else "n/a"
    return f"{ours / other:.2f}"


def format_table(result: ScenarioResult) -> str:
    """One scenario's numbers: baseline, ours and the limit side by side, with ours/baseline and ours/limit."""
    scenario = result.scenario
    faults = []
    if scenario.throttle_rate or scenario.server_error_rate:
        faults.append(
            f"injected throttling {scenario.throttle_rate:.0%}, 5xx {scenario.server_error_rate:.0%} of Put calls"
        )
    if scenario.latency_s:
        faults.append(f"{scenario.latency_s * 1000:.0f} ms per call")
    heading = f"scenario {scenario.name}: {scenario.description}"
    if faults:
        heading += f" ({'; '.join(faults)})"
    lines = [
        heading,
        f"{'':<28}{BASELINE:>10}{OURS:>10}{'limit':>10}{'ours/baseline':>15}{'ours/limit':>12}",
    ]
    calls_counted = result.ours.cpu_ms_per_record is None
    for row in _ROWS:
        if row.from_calls and not calls_counted:
            continue
        baseline, ours, limit = row.value(result.baseline), row.value(result.ours), row.limit(result.ours)
        if baseline is None and ours is None:
            continue
        cells = [row.fmt.format(value) if value is not None else "-" for value in (baseline, ours)]
        limit_cell = row.fmt.format(limit) if limit is not None else ""
        versus_limit = _ratio(ours, limit) if limit else ""
        lines.append(
            f"{row.label:<28}{cells[0]:>10}{cells[1]:>10}{limit_cell:>10}{_ratio(ours, baseline):>15}{versus_limit:>12}"
        )
    for key, value in result.notes.items():
        lines.append(f"  {key}: {value}")
    return "\n".join(lines)
