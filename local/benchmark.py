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

from local.demo import ACCEPT, Published, publish
from local.emulator import EmulatorConfig
from local.environment import HANDLER, LocalPipeline, personalize_client
from local.runner import Handler, RunSummary, load_handler, run_event_source

logger = logging.getLogger(__name__)

BASELINE = "baseline"
OURS = "ours"
KINDS = ("item", "action")
# Upstream timestamps, fixed so a seed gives the same stream on any day.
EXPIRES_AT = 1_830_000_000


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
    genres = ["Horror", "Action", "Comedy", "Drama", "Kids", "Documentary"]
    stream = [
        Published(
            "item",
            json.dumps(
                {
                    "type": "item",
                    "itemId": f"sku-{index:05d}",
                    "properties": {
                        "price": round(rng.uniform(1, 500), 2),
                        "genres": "|".join(rng.sample(genres, k=rng.randint(1, 3))),
                        "numberOfRatings": rng.randint(0, 5000),
                        "inStock": rng.random() > 0.2,
                    },
                }
            ),
            ACCEPT,
            f"sku-{index:05d}",
        )
        for index in range(items)
    ]
    stream += [
        Published(
            "action",
            json.dumps(
                {
                    "type": "action",
                    "actionId": f"act-{index:04d}",
                    "properties": {
                        "value": rng.randint(1, 1000),
                        "membershipLevel": rng.choice(["bronze", "silver", "gold"]),
                        "expirationTimestamp": EXPIRES_AT,
                        "repeatFrequency": rng.randint(1, 30),
                    },
                }
            ),
            ACCEPT,
            f"act-{index:04d}",
        )
        for index in range(actions)
    ]
    # Upstream services publish whatever changes, in no particular order.
    rng.shuffle(stream)
    return stream


# --- The baseline ------------------------------------------------------------------------------------------

# kind → (boto3 method, request list member, record id field): the two kinds the stream holds.
_BASELINE_APIS = {"item": ("put_items", "items", "itemId"), "action": ("put_actions", "actions", "actionId")}


# botocore's attempts per call when nothing configures them (botocore/retries/standard.py, legacy _retry.json).
_DEFAULT_ATTEMPTS = {"standard": 3, "adaptive": 3, "legacy": 5}


class BaselineHandler:
    """The public attempts' handler: one Put call per SQS record, the SDK's default retries, nothing else.

    Parameters
    ----------
    endpoint_url:
        The Personalize emulator.
    datasets:
        Dataset ARN per kind (``item``, ``action``).
    swallow_errors:
        False (the default): a failed call raises, so Lambda fails the whole batch and SQS redelivers it,
        until the queue's redrive policy moves it to the dead-letter queue. True: log and go on with the next
        record, so the failed message is acknowledged all the same.
    """

    def __init__(self, *, endpoint_url: str, datasets: dict[str, str], swallow_errors: bool = False) -> None:
        # Built plainly, as the attempts do: botocore's default retry mode and attempts, default timeouts.
        self.client = personalize_client("personalize-events", endpoint_url)
        self._datasets = datasets
        self._swallow_errors = swallow_errors

    def __call__(self, event: dict[str, Any], context: object) -> None:
        """Send every record of the SQS event, one call each."""
        for record in event["Records"]:
            try:
                self._put(json.loads(record["body"]))
            except Exception as error:
                if not self._swallow_errors:
                    raise
                logger.warning("baseline: message %s failed: %s", record["messageId"], type(error).__name__)

    def _put(self, change: dict[str, Any]) -> None:
        kind = change["type"]
        method, list_field, id_field = _BASELINE_APIS[kind]
        one = {id_field: change[id_field], "properties": json.dumps(change.get("properties", {}))}
        getattr(self.client, method)(datasetArn=self._datasets[kind], **{list_field: [one]})

    def retry_policy(self) -> str:
        """The retry settings the client ended up with, for the report."""
        retries = self.client.meta.config.retries or {}
        mode = retries.get("mode", "legacy")
        attempts = retries.get("total_max_attempts") or _DEFAULT_ATTEMPTS.get(mode, "?")
        return f"botocore default, {mode} mode, {attempts} attempts"


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
        return _account(
            pipeline,
            contender=contender,
            sent=sent,
            summary=summary,
            wall_time_s=wall_time_s,
            retry_policy=retry_policy,
        )


def _account(
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
        stored.update(record[f"{kind}Id"] for record in pipeline.emulator.state.records(dataset_arn))
    # Bodies are unique (one change per id), so a dead letter is matched by body: the redrive policy moves a
    # message without the SourceMessageId attribute our handler adds.
    letters = {letter["body"] for letter in pipeline.dead_letters()}
    written = sum(1 for message in sent.values() if message.record_id in stored)
    dead_lettered = sum(1 for message in sent.values() if message.record_id not in stored and message.body in letters)
    still_queued = pipeline.queue_depth()
    calls = [call for call in pipeline.emulator.state.calls() if call["api"] in {"PutItems", "PutActions"}]
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


def run_scenario(scenario: Scenario, settings: Settings) -> ScenarioResult:
    """Both contenders, one after the other, on the same stream and settings."""
    stream = bench_stream(items=settings.items, actions=settings.actions, seed=settings.seed)
    baseline = run_contender(BASELINE, scenario, settings, stream)
    ours = run_contender(OURS, scenario, settings, stream)
    return ScenarioResult(scenario=scenario, baseline=baseline, ours=ours)


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


SCENARIOS = ("quota", "faults")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scenarios and print the tables; 1 when our handler lost or left behind any message."""
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
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}")
    if args.items < 0 or args.actions < 0 or args.items + args.actions == 0:
        parser.error("--items and --actions must not be negative, and not both zero")
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.ERROR, stream=sys.stderr)

    settings = Settings(
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
    swallow = {"raise": False, "swallow": True}.get(args.baseline_errors)
    scenarios = {
        "quota": Scenario("quota", swallow_errors=bool(swallow)),
        "faults": Scenario(
            "faults",
            throttle_rate=args.throttle_rate,
            server_error_rate=args.server_error_rate,
            swallow_errors=True if swallow is None else swallow,
        ),
    }
    print(
        f"stream: {settings.items} item + {settings.actions} action changes (seed {settings.seed}); "
        f"concurrency {settings.concurrency}, batch size {settings.batch_size}, function timeout "
        f"{settings.function_timeout_s:g} s, visibility timeout {settings.visibility_timeout_s} s, "
        f"redrive after {settings.max_receive_count} receives"
    )
    print("baseline: one record per Put call, no pacing, botocore's default retries\n")
    results = []
    for name in names:
        result = run_scenario(scenarios[name], settings)
        results.append(result)
        print(format_table(result))
        print(f"  retries: baseline {result.baseline.retry_policy}; ours {result.ours.retry_policy}\n")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(
                [
                    {"scenario": r.scenario.name, BASELINE: r.baseline.to_dict(), OURS: r.ours.to_dict()}
                    for r in results
                ],
                out,
                indent=2,
            )
    failed = [r.scenario.name for r in results if r.ours.lost or r.ours.still_queued]
    if failed:
        print(f"FAILED: our handler lost or left behind messages in {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
