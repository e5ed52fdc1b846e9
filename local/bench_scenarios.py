"""The benchmark's scenarios and the settings they share: what ``make bench`` runs, on which stream, at which event
source and function settings (cdk.json's by default), and the tests' tiny ``QUICK`` sizes.

``local.benchmark`` runs them and prints the tables; ``local.bench_streams`` generates the streams.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local.bench_results import Scenario
from local.bench_streams import mixed_stream, session_events

if TYPE_CHECKING:
    from local.demo import Published

__all__ = [
    "BASELINE_BATCH_SIZE",
    "BULK",
    "KINDS",
    "QUICK",
    "SCENARIOS",
    "Settings",
    "defaults_from_cdk_json",
    "stream_for",
]

CDK_JSON = Path(__file__).resolve().parents[1] / "cdk.json"
# The baseline as the public attempts run it: batches of ten, no window.
BASELINE_BATCH_SIZE = 10


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the scenarios share (``main``'s flags set them; the event source's defaults come from cdk.json).

    Attributes
    ----------
    items, actions, users:
        The backlog of the quota and faults scenarios.
    events, sessions:
        The latency scenarios' events and the browsing sessions they belong to.
    concurrency, batch_size, batching_window_s, function_timeout_s, max_receive_count:
        The event source and function settings our handler runs with.
    baseline_seconds:
        The longest the baseline drains; it is slow by design.
    max_seconds:
        The longest one drain of ours may take; what is left is reported as still queued.
    throttle_rate, server_error_rate:
        The faults scenario's injected faults.
    bulk_changes:
        The bulk scenario's item changes.
    seed, verbose:
        Stream and fault seed; let the handlers' own output through.
    """

    items: int = 6000
    actions: int = 1500
    users: int = 1500
    events: int = 2000
    sessions: int = 400
    concurrency: int = 2
    batch_size: int = 10
    batching_window_s: float = 0.0
    function_timeout_s: float = 60.0
    max_receive_count: int = 5
    baseline_seconds: float = 10.0
    max_seconds: float = 300.0
    throttle_rate: float = 0.05
    server_error_rate: float = 0.05
    bulk_changes: int = 100_000
    seed: int = 7
    verbose: bool = False

    @property
    def visibility_timeout_s(self) -> int:
        """Six function timeouts plus the batching window, as the stack derives it."""
        return int(6 * self.function_timeout_s + self.batching_window_s + 0.999)


def defaults_from_cdk_json(path: Path = CDK_JSON) -> Settings:
    """The event source and function settings of cdk.json's context, as a deployment would use them."""
    context = json.loads(path.read_text(encoding="utf-8"))["context"]
    return Settings(
        concurrency=int(context["maxConcurrency"]),
        batch_size=int(context["batchSize"]),
        batching_window_s=float(context["maxBatchingWindowSeconds"]),
        function_timeout_s=float(context["functionTimeoutSeconds"]),
        max_receive_count=int(context["maxReceiveCount"]),
    )


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario("quota-items", "a clean backlog of item changes", stream="items"),
        Scenario(
            "quota-items-alone",
            "item changes, one environment busy of the maximum concurrency",
            stream="items",
            busy=1,
        ),
        Scenario("quota-mix", "a clean backlog of items, actions and users, shuffled", stream="mix"),
        Scenario(
            "quota-mix-fifo",
            "the same backlog on a FIFO queue, one message group per record",
            stream="mix",
            fifo=True,
        ),
        Scenario("latency-0-direct", "session events, one environment invoked directly", stream="events", direct=True),
        Scenario(
            "latency-30-direct",
            "session events, one environment invoked directly",
            stream="events",
            latency_s=0.03,
            direct=True,
        ),
        Scenario("latency-0", "session events through the runner", stream="events"),
        Scenario("latency-30", "session events through the runner", stream="events", latency_s=0.03),
        Scenario("faults", "the mixed backlog with faults injected", stream="mix", swallow_errors=True),
        Scenario("cpu-items", "CPU per record, items, invoked directly", stream="items", direct=True),
        Scenario("cpu-events", "CPU per record, events, invoked directly", stream="events", direct=True),
    )
}
# Not a Scenario: the bulk path has no baseline and no handler (local.bench_bulk).
BULK = "bulk"
# The kinds each stream holds, which a pipeline or an emulator is provisioned with.
KINDS = {"items": ("item",), "mix": ("item", "action", "user"), "events": ("event",)}


def stream_for(scenario: Scenario, settings: Settings) -> list[Published]:
    """The scenario's stream."""
    if scenario.stream == "items":
        return mixed_stream(items=settings.items, seed=settings.seed)
    if scenario.stream == "mix":
        return mixed_stream(items=settings.items, actions=settings.actions, users=settings.users, seed=settings.seed)
    return session_events(events=settings.events, sessions=settings.sessions, seed=settings.seed)


# --quick: tiny streams, for the tests (structure and accounting, not figures).
QUICK: dict[str, Any] = {
    "items": 60,
    "actions": 15,
    "users": 15,
    "events": 120,
    "sessions": 24,
    "baseline_seconds": 3.0,
    "bulk_changes": 500,
}
