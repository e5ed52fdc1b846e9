"""``make bench``: the ingest handler against a one-record-per-call baseline and against the physical limit.

The project's rule is that speed is measured, not assumed. Each scenario publishes one generated stream, drains it
once with a **baseline** handler and once with **ours** (``ingest.handler.lambda_handler``), each against a fresh
``LocalPipeline`` (moto's SQS, the Personalize emulator enforcing the real quotas per dataset group), and prints
both beside the **limit**: the records per second the quotas allow with full calls. Our handler runs at the
cdk.json defaults (batch size, batching window, maximum concurrency, function timeout; the visibility timeout
follows), each poller an execution environment of its own.

The baseline is what the best-known public attempts do: for each SQS record, decode the JSON body and call the
kind's Put* API with that one record; no batching, no pacing, no concurrency, the SDK's default retries, at batch
size 10. It is meant to work: the streams are already in the form Personalize accepts. It is slow by design, so
its drain stops after ``--baseline-seconds`` and its rate is what it wrote by then.

Scenarios (``--scenarios``; ``local.bench_scenarios`` defines them and the settings they share):

- ``quota-items``, ``quota-mix``: a clean backlog of item changes, then of items, actions and users; only the
  quotas limit the drain. Records per call, records per second, the fraction of the limit, over-quota throttles,
  over the whole drain and sustained (its middle 80 %, without the cold start and the last batches).
- ``quota-items-alone``: the item backlog drained by one execution environment while the others stay idle; it
  starts at its share of the quota (quota / maximum concurrency) and must find the rest on its own.
- ``latency-0``, ``latency-30``: events of interleaved browsing sessions (several events per session) with the
  emulator answering at once or after 30 ms, the handler invoked directly (one environment, no SQS) and through
  the runner: events per second, calls in flight, and the ratio latency-30 / latency-0 (the pipeline hides the
  service's latency when it is near 1).
- ``quota-mix-fifo``: the mixed backlog on a FIFO queue, each message in its record's group (changes to one record
  stay in order), drained within Lambda's FIFO limits (batches of at most 10, no window, so nothing is deferred):
  what a FIFO queue costs in throughput, against the limit of full calls and the FIFO ceiling of batches of 10.
- ``faults``: the mixed backlog with throttling and 5xx answers injected: nothing lost, throughput kept.
- ``cpu``: the handler's CPU time per record, items and events, invoked directly against an emulator in a process
  of its own (so this process's CPU is the handler's, its pool threads included); per Put call too, and split
  between the calls' own CPU inside botocore and the handler's work outside them (``local.bench_direct``).
- ``bulk``: the bulk path instead of Put: item changes through ``backfill``'s bulk stage (decode, validate,
  collapse, CSV, upload to moto's S3), records per second against the Put path's ceiling of 100/s, the import job's
  own time apart (``local.bench_bulk``; no baseline).

Reading the numbers: everything else shares one process and its GIL, moto and the emulator included. No
machine-independent number comes out of this: read the ratios, and compare runs on one machine only.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from local.baseline import BaselineHandler
from local.bench_bulk import BulkResult, format_bulk, run_bulk
from local.bench_direct import direct_environment, invoke_directly, separate_emulator
from local.bench_results import (
    BASELINE,
    OURS,
    RunResult,
    Scenario,
    ScenarioResult,
    account_run,
    fifo_limit_records_per_second,
    format_table,
    limit_records_per_second,
)
from local.bench_scenarios import (
    BASELINE_BATCH_SIZE,
    BULK,
    KINDS,
    QUICK,
    SCENARIOS,
    Settings,
    defaults_from_cdk_json,
    stream_for,
)
from local.demo import Published, publish
from local.emulator import EmulatorConfig
from local.environment import HANDLER, LocalPipeline, deployment_event_source
from local.lambda_runtime import Handler, load_handler
from local.runner import run_event_source

logger = logging.getLogger(__name__)
OURS_POLICY = "its own: no SDK retries, backoff in the handler"

__all__ = ["BASELINE", "OURS", "busy_environments", "format_table", "main", "run_scenario"]

# --- One run -----------------------------------------------------------------------------------------------


class _InvocationClock:
    """Wraps handlers to note when the last invocation ended (the drain time without the runner's stop check) and
    the largest batch an invocation received."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.last_end: float | None = None
        self.invocations = 0
        self.largest_batch = 0

    def wrap(self, handler: Handler) -> Handler:
        def timed(event: Any, context: Any) -> object:
            try:
                return handler(event, context)
            finally:
                now = time.monotonic()
                with self._lock:
                    self.invocations += 1
                    self.last_end = now if self.last_end is None else max(self.last_end, now)
                    self.largest_batch = max(self.largest_batch, len(event["Records"]))

        return timed


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


def _quiet(settings: Settings) -> contextlib.AbstractContextManager[Any]:
    # The handlers print to stdout (Powertools' cold-start metric, log lines): keep the table readable.
    return contextlib.nullcontext() if settings.verbose else contextlib.redirect_stdout(io.StringIO())


def event_source(contender: str, scenario: Scenario, settings: Settings) -> tuple[int, float]:
    """The batch size and batching window a contender drains with: the baseline's batches of ten and no window;
    ours at the settings (cdk.json's), within Lambda's FIFO limits on a FIFO queue (as the stack's FIFO settings,
    ``deployment_event_source(fifo=True)``: at most 10, no window)."""
    if contender == BASELINE:
        return BASELINE_BATCH_SIZE, 0.0
    if scenario.fifo:
        fifo = deployment_event_source(fifo=True)
        return min(settings.batch_size, fifo.batch_size), fifo.batching_window_s
    return settings.batch_size, settings.batching_window_s


def _handlers(contender: str, pipeline: LocalPipeline, scenario: Scenario, settings: Settings) -> list[Handler]:
    """One handler per execution environment: ours cold-started once per poller, the stateless baseline shared."""
    if contender == BASELINE:
        return [_baseline(pipeline.emulator.endpoint_url, pipeline, scenario)]
    batch_size, _window = event_source(contender, scenario, settings)
    environment = pipeline.handler_environment(max_concurrency=settings.concurrency, batch_size=batch_size)
    return [load_handler(HANDLER, environment) for _ in range(busy_environments(scenario, settings))]


def busy_environments(scenario: Scenario, settings: Settings) -> int:
    """The execution environments that drain the stream (their share is still of ``settings.concurrency``)."""
    return 1 if scenario.direct else min(scenario.busy or settings.concurrency, settings.concurrency)


def _baseline(endpoint: str, pipeline: LocalPipeline | None, scenario: Scenario, **provisioned: Any) -> Handler:
    return BaselineHandler(
        endpoint_url=endpoint,
        datasets=dict(pipeline.provisioned.datasets) if pipeline else provisioned["datasets"],
        tracking_ids=dict(pipeline.provisioned.tracking_ids) if pipeline else provisioned["tracking_ids"],
        swallow_errors=scenario.swallow_errors,
    )


def _policy(contender: str, handler: Handler) -> str:
    return handler.retry_policy() if isinstance(handler, BaselineHandler) else OURS_POLICY


def run_contender(contender: str, scenario: Scenario, settings: Settings, stream: Sequence[Published]) -> RunResult:
    """Publish ``stream`` to a fresh local pipeline (or hand it over directly) and drain it with one contender."""
    config = EmulatorConfig(
        create_delay=0.05,
        delete_delay=0.05,
        throttle_rate=scenario.throttle_rate,
        server_error_rate=scenario.server_error_rate,
        latency=scenario.latency_s,
        seed=settings.seed,
    )
    limit = limit_records_per_second(stream)
    with (
        _restored_environment(),
        LocalPipeline(
            kinds=KINDS[scenario.stream],
            emulator_config=config,
            visibility_timeout_s=settings.visibility_timeout_s,
            max_receive_count=settings.max_receive_count,
            fifo=scenario.fifo,
        ) as pipeline,
        _quiet(settings),
    ):
        handlers = _handlers(contender, pipeline, scenario, settings)
        policy = _policy(contender, handlers[0])
        batch_size, batching_window_s = event_source(contender, scenario, settings)
        if scenario.direct:
            limited = list(stream) if contender == OURS else _baseline_share(stream, settings, scenario)
            run = invoke_directly(handlers[0], limited, batch_size=batch_size)
            return account_run(
                pipeline,
                contender=contender,
                sent=run.sent,
                wall_time_s=run.wall_time_s,
                retry_policy=policy,
                invocations=run.invocations,
                limit_per_second=limit,
                queued=False,
            )
        sent = publish(pipeline, stream)
        clock = _InvocationClock()
        started = time.monotonic()
        summary = run_event_source(
            queue_url=pipeline.queues.url,
            handler=[clock.wrap(handler) for handler in handlers],
            sqs_client=pipeline.sqs,
            batch_size=batch_size,
            batching_window_s=batching_window_s,
            max_concurrency=busy_environments(scenario, settings) if contender == OURS else settings.concurrency,
            function_timeout_s=settings.function_timeout_s,
            wait_time_s=1,
            max_seconds=settings.baseline_seconds if contender == BASELINE else settings.max_seconds,
        )
        wall_time_s = (clock.last_end or started) - started
        result = account_run(
            pipeline,
            contender=contender,
            sent=sent,
            wall_time_s=wall_time_s,
            retry_policy=policy,
            invocations=summary.invocations,
            limit_per_second=limit,
            summary=summary,
        )
        return replace(result, largest_batch=clock.largest_batch)


def _baseline_share(stream: Sequence[Published], settings: Settings, scenario: Scenario) -> list[Published]:
    """The part of the stream the baseline can get through in ``baseline_seconds`` when invoked directly: one call
    after the other, each at least the emulator's latency (and a millisecond of our own)."""
    per_call_s = max(scenario.latency_s, 0.001)
    return list(stream[: max(1, min(len(stream), int(settings.baseline_seconds / per_call_s)))])


def measure_cpu(contender: str, scenario: Scenario, settings: Settings, stream: Sequence[Published]) -> RunResult:
    """Invoke one environment directly against an emulator in its own process: this process's CPU is the
    handler's. The emulator's call log is elsewhere: the Put* calls are counted, and their own CPU metered, where
    botocore makes them (``metered_put_calls``)."""
    with _restored_environment(), separate_emulator() as endpoint, _quiet(settings):
        environment, datasets, tracking_ids = direct_environment(endpoint, KINDS[scenario.stream])
        if contender == BASELINE:
            handler = _baseline(endpoint, None, scenario, datasets=datasets, tracking_ids=tracking_ids)
        else:
            handler = load_handler(HANDLER, environment)
        batch_size = BASELINE_BATCH_SIZE if contender == BASELINE else settings.batch_size
        run = invoke_directly(handler, stream, batch_size=batch_size)
    written = len(run.sent) - len(run.failed)
    return RunResult(
        contender=contender,
        messages=len(run.sent),
        written=written,
        dead_lettered=0,
        still_queued=0,
        lost=0,
        put_calls=run.put_calls,
        ok_calls=0,
        records_accepted=0,
        throttled_calls=0,
        injected_faults=0,
        invocations=run.invocations,
        wall_time_s=round(run.wall_time_s, 3),
        retry_policy=_policy(contender, handler),
        cpu_ms_per_record=round(1000 * run.cpu_time_s / max(1, len(run.sent)), 4),
        # No call metered (a handler that did not go through botocore): no per-call figure rather than a made-up one.
        cpu_ms_per_call=round(1000 * run.cpu_time_s / run.put_calls, 4) if run.put_calls else None,
        sdk_cpu_ms_per_call=round(1000 * run.put_cpu_time_s / run.put_calls, 4) if run.put_calls else None,
    )


def run_scenario(scenario: Scenario, settings: Settings) -> ScenarioResult:
    """Both contenders, one after the other, on the same stream and settings."""
    stream = stream_for(scenario, settings)
    if scenario.name == "faults":
        scenario = replace(scenario, throttle_rate=settings.throttle_rate, server_error_rate=settings.server_error_rate)
    if scenario.name.startswith("cpu"):
        return ScenarioResult(
            scenario=scenario,
            baseline=measure_cpu(BASELINE, scenario, settings, stream),
            ours=measure_cpu(OURS, scenario, settings, stream),
            notes={"goal": "ours <= 0.25 ms per record"},
        )
    baseline = run_contender(BASELINE, scenario, settings, stream)
    ours = run_contender(OURS, scenario, settings, stream)
    notes = _fifo_notes(scenario, settings, stream)
    return ScenarioResult(scenario=scenario, baseline=baseline, ours=ours, notes=notes)


def _fifo_notes(scenario: Scenario, settings: Settings, stream: Sequence[Published]) -> dict[str, Any]:
    """A FIFO scenario's event source (the header gives the standard queue's) and its ceiling beside the limit."""
    if not scenario.fifo:
        return {}
    batch_size, window = event_source(OURS, scenario, settings)
    ceiling = fifo_limit_records_per_second(stream, batch_size)
    return {
        "queue": f"FIFO; ours: batch size {batch_size}, window {window:g} s, concurrency {settings.concurrency}",
        f"FIFO ceiling (records/s, batches of {batch_size} in order)": round(ceiling, 1),
    }


def latency_ratios(results: Sequence[ScenarioResult]) -> dict[str, float]:
    """Events per second at 30 ms over events per second at 0 ms, directly and through the runner (goal >= 0.8)."""
    by_name = {result.scenario.name: result.ours for result in results}
    ratios = {}
    for zero, thirty, label in (
        ("latency-0-direct", "latency-30-direct", "direct"),
        ("latency-0", "latency-30", "runner"),
    ):
        if zero in by_name and thirty in by_name and by_name[zero].records_per_second:
            ratios[label] = round(by_name[thirty].records_per_second / by_name[zero].records_per_second, 3)
    return ratios


# --- The command line --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scenarios, print the tables, write the JSON; 1 when our handler lost or left behind any message."""
    parser = _parser()
    args = parser.parse_args(argv)
    names = _scenario_names(parser, args)
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.ERROR, stream=sys.stderr)
    settings = _settings(args)
    print(_header(settings))
    results = []
    bulk: BulkResult | None = None
    for name in names:
        if name == BULK:
            bulk = run_bulk(settings.bulk_changes, seed=settings.seed)
            print(format_bulk(bulk) + "\n")
            continue
        result = run_scenario(SCENARIOS[name], settings)
        results.append(result)
        print(format_table(result))
        print(f"  retries: baseline {result.baseline.retry_policy}; ours {result.ours.retry_policy}\n")
    ratios = latency_ratios(results)
    for label, ratio in ratios.items():
        print(f"latency-30 / latency-0, {label}: {ratio:.2f} (goal >= 0.8)")
    if args.json:
        _write_json(args.json, settings, results, ratios, bulk)
    failed = [r.scenario.name for r in results if r.ours.lost or r.ours.still_queued]
    failed += [BULK] if bulk is not None and not bulk.run.accounted else []
    if failed:
        print(f"FAILED: lost or left behind messages (or records) in {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    defaults = defaults_from_cdk_json()
    parser = argparse.ArgumentParser(prog="python -m local.benchmark", description=__doc__.splitlines()[0])
    add: Callable[..., Any] = parser.add_argument
    add("--quick", action="store_true", help="tiny streams (the tests' mode): structure, not figures")
    add("--items", type=int, help=f"item changes (default {defaults.items})")
    add("--actions", type=int, help=f"action changes in the mix (default {defaults.actions})")
    add("--users", type=int, help=f"user changes in the mix (default {defaults.users})")
    add("--events", type=int, help=f"events of the latency scenarios (default {defaults.events})")
    add("--sessions", type=int, help=f"sessions they belong to (default {defaults.sessions})")
    add("--concurrency", type=int, default=defaults.concurrency, help="maximum concurrency (cdk.json's)")
    add("--batch-size", type=int, default=defaults.batch_size, help="records per invocation (cdk.json's)")
    add("--batching-window", type=float, default=defaults.batching_window_s, help="seconds (cdk.json's)")
    add("--function-timeout", type=float, default=defaults.function_timeout_s, help="seconds (cdk.json's)")
    add("--max-receive-count", type=int, default=defaults.max_receive_count, help="redrive limit (cdk.json's)")
    add(
        "--baseline-seconds",
        type=float,
        help=f"the baseline's drain stops after this (default {defaults.baseline_seconds:g})",
    )
    add("--max-seconds", type=float, default=defaults.max_seconds, help="per drain of ours (default %(default)g)")
    add("--throttle-rate", type=float, default=defaults.throttle_rate, help="faults scenario: throttled Put calls")
    add("--server-error-rate", type=float, default=defaults.server_error_rate, help="faults scenario: 5xx Put calls")
    add("--bulk-changes", type=int, help=f"item changes of the bulk scenario (default {defaults.bulk_changes:,})")
    add("--seed", type=int, default=defaults.seed, help="stream and fault seed (default %(default)s)")
    known = ", ".join([*SCENARIOS, BULK])
    add("--scenarios", default=",".join([*SCENARIOS, BULK]), help=f"comma-separated, of {known} (default all)")
    add("--json", metavar="PATH", help="also write the results as JSON to PATH")
    add("--verbose", action="store_true", help="show the handlers' own output")
    return parser


_SIZES = ("items", "actions", "users", "events", "sessions", "bulk_changes")


def _scenario_names(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """The scenarios asked for, in order; a usage error for an unknown one."""
    names = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = sorted(set(names) - {*SCENARIOS, BULK})
    if unknown:
        parser.error(f"unknown scenarios {unknown}; known: {', '.join([*SCENARIOS, BULK])}")
    for name in _SIZES:
        value = getattr(args, name)
        if value is not None and value < 0:
            parser.error(f"--{name.replace('_', '-')} must not be negative")
    return names


def _settings(args: argparse.Namespace) -> Settings:
    settings = replace(
        defaults_from_cdk_json(),
        concurrency=args.concurrency,
        batch_size=args.batch_size,
        batching_window_s=args.batching_window,
        function_timeout_s=args.function_timeout,
        max_receive_count=args.max_receive_count,
        max_seconds=args.max_seconds,
        throttle_rate=args.throttle_rate,
        server_error_rate=args.server_error_rate,
        seed=args.seed,
        verbose=args.verbose,
    )
    if args.quick:
        settings = replace(settings, **QUICK)
    sizes: dict[str, Any] = {name: getattr(args, name) for name in _SIZES}
    sizes["baseline_seconds"] = args.baseline_seconds
    return replace(settings, **{name: value for name, value in sizes.items() if value is not None})


def _header(settings: Settings) -> str:
    return (
        f"backlog: {settings.items} items + {settings.actions} actions + {settings.users} users; "
        f"{settings.events} events in {settings.sessions} sessions (seed {settings.seed})\n"
        f"ours: batch size {settings.batch_size}, window {settings.batching_window_s:g} s, concurrency "
        f"{settings.concurrency}, function timeout {settings.function_timeout_s:g} s, visibility timeout "
        f"{settings.visibility_timeout_s} s, redrive after {settings.max_receive_count} receives\n"
        f"baseline: one record per Put call, batch size {BASELINE_BATCH_SIZE}, botocore's default retries, "
        f"stopped after {settings.baseline_seconds:g} s\n"
    )


def _write_json(
    path: str,
    settings: Settings,
    results: Sequence[ScenarioResult],
    ratios: dict[str, float],
    bulk: BulkResult | None,
) -> None:
    document = {
        "settings": {name: getattr(settings, name) for name in Settings.__dataclass_fields__}
        | {"visibility_timeout_s": settings.visibility_timeout_s},
        "scenarios": [result.to_dict() for result in results],
        "latency_ratio": ratios,
        BULK: bulk.to_dict() if bulk is not None else None,
    }
    with open(path, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=2)


if __name__ == "__main__":
    sys.exit(main())
