"""``make bench``: the ingest handler against a one-record-per-call baseline, side by side on the same stream.

The project's rule is that speed is measured, not assumed. This benchmark publishes one generated stream of
item and action changes, drains it once with a **baseline** handler and once with **ours**
(``ingest.handler.lambda_handler``), each against a fresh ``LocalPipeline`` (moto's SQS, the Personalize
emulator enforcing the real 10 calls/s quota per dataset group for PutItems and PutActions), with the same
event source settings, and prints the numbers and the ratio ours/baseline for each.

The baseline is what the best-known public attempts do: for each SQS record, decode the JSON body and call
PutItems or PutActions with that one record, ``properties`` as a JSON string; no batching, no pacing, the SDK's
default retries. It is meant to work: the stream is already in the form Personalize accepts (camelCase keys,
categorical lists joined with ``|``, epoch-second timestamps), so nothing our handler normalises can trip it.

Scenarios (``--scenarios``), each run by both contenders:

- ``quota``: no injected faults; only the quota limits both. The baseline raises on a failed call, so Lambda
  retries the whole batch: it loses nothing, and pays for each failed batch with a visibility timeout.
- ``faults``: the emulator also injects throttling and 5xx answers, and the baseline logs a failed call and
  goes on (``--baseline-errors`` picks either flavour for both scenarios). A message counts as *lost* when it
  was acknowledged (deleted from the queue) but Personalize never stored it and it is not in the dead-letter
  queue.

Reading the numbers: the wall time runs from the start of the drain to the end of the last invocation (the
runner's own stop check left out). Everything shares one process and its GIL, moto included, whose
ReceiveMessage costs time in proportion to the queue's length, so large streams measure moto too. No
machine-independent number comes out of this: read the ratios, and compare runs on one machine only.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from local.baseline import BaselineHandler
from local.bench_results import BASELINE, OURS, RunResult, Scenario, ScenarioResult, account_run, format_table
from local.demo import ACCEPT, Published, publish
from local.emulator import EmulatorConfig
from local.environment import HANDLER, LocalPipeline
from local.lambda_runtime import Handler, load_handler
from local.runner import run_event_source

logger = logging.getLogger(__name__)

__all__ = [
    "BASELINE",
    "CONTENDERS",
    "OURS",
    "RunResult",
    "Scenario",
    "ScenarioResult",
    "Settings",
    "bench_stream",
    "format_table",
    "main",
    "run_contender",
    "run_scenario",
]

KINDS = ("item", "action")
# Upstream timestamps, fixed so a seed gives the same stream on any day.
EXPIRES_AT = 1_830_000_000
_GENRES = ["Horror", "Action", "Comedy", "Drama", "Kids", "Documentary"]


# --- The stream --------------------------------------------------------------------------------------------


def bench_stream(*, items: int, actions: int, seed: int) -> list[Published]:
    """Item and action changes in random order, each id once, every record already in Personalize's wire form.

    Distinct ids make the accounting exact: a message was written exactly when its id is in the emulator.

    Parameters
    ----------
    items, actions:
        How many item and action changes.
    seed:
        Seed of the contents and the order.
    """
    rng = random.Random(seed)
    stream = [_item_change(rng, f"sku-{index:05d}") for index in range(items)]
    stream += [_action_change(rng, f"act-{index:04d}") for index in range(actions)]
    # Upstream services publish whatever changes, in no particular order.
    rng.shuffle(stream)
    return stream


def _item_change(rng: random.Random, item_id: str) -> Published:
    properties = {
        "price": round(rng.uniform(1, 500), 2),
        "genres": "|".join(rng.sample(_GENRES, k=rng.randint(1, 3))),
        "numberOfRatings": rng.randint(0, 5000),
        "inStock": rng.random() > 0.2,
    }
    return Published("item", json.dumps({"type": "item", "itemId": item_id, "properties": properties}), ACCEPT, item_id)


def _action_change(rng: random.Random, action_id: str) -> Published:
    properties = {
        "value": rng.randint(1, 1000),
        "membershipLevel": rng.choice(["bronze", "silver", "gold"]),
        "expirationTimestamp": EXPIRES_AT,
        "repeatFrequency": rng.randint(1, 30),
    }
    body = json.dumps({"type": "action", "actionId": action_id, "properties": properties})
    return Published("action", body, ACCEPT, action_id)


# --- One run -----------------------------------------------------------------------------------------------


class _InvocationClock:
    """Wraps a handler to note when the last invocation ended: the drain time without the runner's stop check."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._lock = threading.Lock()
        self.last_end: float | None = None

    def __call__(self, event: Any, context: Any) -> object:
        try:
            return self._handler(event, context)
        finally:
            now = time.monotonic()
            with self._lock:
                self.last_end = now if self.last_end is None else max(self.last_end, now)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything both contenders share (``main``'s flags set them).

    Attributes
    ----------
    items, actions, seed:
        The stream (``bench_stream``).
    concurrency, batch_size:
        The event source's maximum concurrency and batch size (above 10 with a 1 s batching window).
    function_timeout_s, visibility_timeout_s, max_receive_count:
        The function timeout, and the ingest queue's visibility timeout and redrive limit.
    max_seconds:
        The longest one drain may take; what is left is reported as still queued.
    verbose:
        Let the handlers' own output through.
    """

    items: int = 80
    actions: int = 20
    concurrency: int = 2
    batch_size: int = 10
    seed: int = 7
    function_timeout_s: float = 5.0
    visibility_timeout_s: int = 6
    max_receive_count: int = 5
    max_seconds: float = 60.0
    verbose: bool = False


@contextlib.contextmanager
def _restored_environment() -> Iterator[None]:
    # load_handler puts the function's environment into os.environ (as a cold start would see it); the next
    # run, and whoever called the benchmark, must not inherit one pipeline's endpoints.
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _ours(pipeline: LocalPipeline, scenario: Scenario) -> tuple[Handler, str]:
    return load_handler(HANDLER, pipeline.handler_environment()), "its own: no SDK retries, backoff in the handler"


def _baseline(pipeline: LocalPipeline, scenario: Scenario) -> tuple[Handler, str]:
    handler = BaselineHandler(
        endpoint_url=pipeline.emulator.endpoint_url,
        datasets=dict(pipeline.provisioned.datasets),
        swallow_errors=scenario.swallow_errors,
    )
    return handler, handler.retry_policy()


CONTENDERS: dict[str, Callable[[LocalPipeline, Scenario], tuple[Handler, str]]] = {BASELINE: _baseline, OURS: _ours}


def run_contender(contender: str, scenario: Scenario, settings: Settings, stream: Sequence[Published]) -> RunResult:
    """Publish ``stream`` to a fresh local pipeline and drain it with one contender's handler."""
    config = EmulatorConfig(
        create_delay=0.05,
        delete_delay=0.05,
        throttle_rate=scenario.throttle_rate,
        server_error_rate=scenario.server_error_rate,
        seed=settings.seed,
    )
    with (
        _restored_environment(),
        LocalPipeline(
            kinds=KINDS,
            emulator_config=config,
            visibility_timeout_s=settings.visibility_timeout_s,
            max_receive_count=settings.max_receive_count,
        ) as pipeline,
    ):
        sent = publish(pipeline, stream)
        handler, retry_policy = CONTENDERS[contender](pipeline, scenario)
        clock = _InvocationClock(handler)
        # The handlers print to stdout (Powertools' cold-start metric, log lines): keep the table readable.
        output = contextlib.nullcontext() if settings.verbose else contextlib.redirect_stdout(io.StringIO())
        started = time.monotonic()
        with output:
            summary = run_event_source(
                queue_url=pipeline.queues.url,
                handler=clock,
                sqs_client=pipeline.sqs,
                batch_size=settings.batch_size,
                batching_window_s=0.0 if settings.batch_size <= 10 else 1.0,
                max_concurrency=settings.concurrency,
                function_timeout_s=settings.function_timeout_s,
                wait_time_s=1,
                max_seconds=settings.max_seconds,
            )
        wall_time_s = (clock.last_end or started) - started
        return account_run(
            pipeline,
            contender=contender,
            sent=sent,
            summary=summary,
            wall_time_s=wall_time_s,
            retry_policy=retry_policy,
        )


def run_scenario(scenario: Scenario, settings: Settings) -> ScenarioResult:
    """Both contenders, one after the other, on the same stream and settings."""
    stream = bench_stream(items=settings.items, actions=settings.actions, seed=settings.seed)
    baseline = run_contender(BASELINE, scenario, settings, stream)
    ours = run_contender(OURS, scenario, settings, stream)
    return ScenarioResult(scenario=scenario, baseline=baseline, ours=ours)


SCENARIOS = ("quota", "faults")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scenarios and print the tables; 1 when our handler lost or left behind any message."""
    parser = _parser()
    args = parser.parse_args(argv)
    names = _scenario_names(parser, args)
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.ERROR, stream=sys.stderr)
    settings = _settings(args)
    scenarios = _scenarios(args)
    print(_header(settings))
    results = []
    for name in names:
        result = run_scenario(scenarios[name], settings)
        results.append(result)
        print(format_table(result))
        print(f"  retries: baseline {result.baseline.retry_policy}; ours {result.ours.retry_policy}\n")
    if args.json:
        _write_json(args.json, results)
    failed = [r.scenario.name for r in results if r.ours.lost or r.ours.still_queued]
    if failed:
        print(f"FAILED: our handler lost or left behind messages in {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    defaults = Settings()
    parser = argparse.ArgumentParser(prog="python -m local.benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=defaults.items, help="item changes (default %(default)s)")
    parser.add_argument("--actions", type=int, default=defaults.actions, help="action changes (default %(default)s)")
    parser.add_argument(
        "--concurrency", type=int, default=defaults.concurrency, help="pollers, both handlers (default %(default)s)"
    )
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="records per invocation (10)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="stream and fault seed (default %(default)s)")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, of {', '.join(SCENARIOS)} (default all)"
    )
    parser.add_argument("--throttle-rate", type=float, default=0.1, help="faults scenario: throttled Put calls (0.1)")
    parser.add_argument("--server-error-rate", type=float, default=0.05, help="faults scenario: 5xx Put calls (0.05)")
    parser.add_argument("--function-timeout", type=float, default=defaults.function_timeout_s, help="seconds (5)")
    parser.add_argument("--visibility-timeout", type=int, default=defaults.visibility_timeout_s, help="seconds (6)")
    parser.add_argument("--max-receive-count", type=int, default=defaults.max_receive_count, help="redrive limit (5)")
    parser.add_argument("--max-seconds", type=float, default=defaults.max_seconds, help="per drain (default 60)")
    parser.add_argument(
        "--baseline-errors",
        choices=("auto", "raise", "swallow"),
        default="auto",
        help="how the baseline treats a failed call: raise (batch retried) or swallow (log, go on); "
        "auto (default): raise in the quota scenario, swallow in the faults scenario",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument("--verbose", action="store_true", help="show the handlers' own output")
    return parser


def _scenario_names(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """The scenarios asked for, in order; a usage error for an unknown one or an empty stream."""
    names = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}")
    if args.items < 0 or args.actions < 0 or args.items + args.actions == 0:
        parser.error("--items and --actions must not be negative, and not both zero")
    return names


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(
        items=args.items,
        actions=args.actions,
        concurrency=args.concurrency,
        batch_size=args.batch_size,
        seed=args.seed,
        function_timeout_s=args.function_timeout,
        visibility_timeout_s=args.visibility_timeout,
        max_receive_count=args.max_receive_count,
        max_seconds=args.max_seconds,
        verbose=args.verbose,
    )


def _scenarios(args: argparse.Namespace) -> dict[str, Scenario]:
    """Both scenarios, with the baseline's flavour ``--baseline-errors`` asks for (auto: raise, then swallow)."""
    swallow = {"raise": False, "swallow": True}.get(args.baseline_errors)
    return {
        "quota": Scenario("quota", swallow_errors=bool(swallow)),
        "faults": Scenario(
            "faults",
            throttle_rate=args.throttle_rate,
            server_error_rate=args.server_error_rate,
            swallow_errors=True if swallow is None else swallow,
        ),
    }


def _header(settings: Settings) -> str:
    return (
        f"stream: {settings.items} item + {settings.actions} action changes (seed {settings.seed}); "
        f"concurrency {settings.concurrency}, batch size {settings.batch_size}, function timeout "
        f"{settings.function_timeout_s:g} s, visibility timeout {settings.visibility_timeout_s} s, "
        f"redrive after {settings.max_receive_count} receives\n"
        "baseline: one record per Put call, no pacing, botocore's default retries\n"
    )


def _write_json(path: str, results: Sequence[ScenarioResult]) -> None:
    with open(path, "w", encoding="utf-8") as out:
        json.dump(
            [{"scenario": r.scenario.name, BASELINE: r.baseline.to_dict(), OURS: r.ours.to_dict()} for r in results],
            out,
            indent=2,
        )


if __name__ == "__main__":
    sys.exit(main())
