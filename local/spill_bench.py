"""The spill on one machine, end to end: a backlog in moto's SQS, the workflow driven step by step, import jobs in
the emulator reading moto's S3, then the resumed stream through the real handler; and a bench that measures it.

:class:`SpillWorld` wires a :class:`~local.environment.LocalPipeline` (moto's server, the emulator, the queues and
datasets) to the spill's real step code: the import bucket on moto's S3, the event source mapping as a
:class:`~local.event_source_mapping.LocalEventSourceMapping` over the local runner and the real ingest handler,
and a :class:`~local.step_functions.SpillWorkflowDriver`. The integration tests use it with small backlogs.

The bench (``python -m local.spill_bench --items 50000 --events 3000``) publishes a backlog of item changes with
events behind them and some poison, spills it, resumes, and reports the time until every record is in the
emulator against the time the Put path alone needs at its ceiling, and where every message went (imported,
superseded, dead-lettered, through Put).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Final

import boto3

import import_rules
from contract import PUT_QUOTA_EVENTS, PUT_QUOTA_FIXED, RECORDS_PER_CALL
from ingest.dead_letter import DeadLetterQueue
from local.emulator import EmulatorConfig
from local.environment import DUMMY_CREDENTIALS, HANDLER, LocalPipeline, default_window
from local.event_source_mapping import LocalEventSourceMapping
from local.lambda_runtime import load_handler
from local.runner import EventSourceRunner
from local.step_functions import Execution, SpillWorkflowDriver, local_step
from spill.config import SpillConfig
from spill.drain import DrainSettings
from spill.handler import SpillDeps

ROLE_ARN: Final = "arn:aws:iam::123456789012:role/PersonalizeImport"
BUCKET: Final = "spill-imports"


@dataclass
class SpillWorld:
    """The spill's real steps over the local stand-ins (see the module's docstring).

    Parameters
    ----------
    pipeline
        An entered ``LocalPipeline``.
    drain
        The drain's settings (its cut is the pause's; the rest as given).
    min_records
        The fewest records an import job needs (the service's by default; tests lower it, and the emulator too).
    import_delay
        Seconds the emulator takes to run an import job.
    wait_scale
        Seconds slept per second of the workflow's Wait states.
    """

    pipeline: LocalPipeline
    drain: DrainSettings = field(default_factory=lambda: DrainSettings(cut_ms=0, visibility_seconds=5))
    min_records: Callable[[str, str], int] = import_rules.min_records
    import_delay: float = 0.1
    wait_scale: float = 0.01
    step_seconds: float = 900.0
    max_concurrency: int = 2
    batch_size: int = 10
    metrics: list[str] = field(default_factory=list)
    wrap: Callable[[str, Any], Any] = lambda _name, client: client
    observe: Callable[[str, dict[str, Any]], None] | None = None

    def __post_init__(self) -> None:
        pipeline = self.pipeline
        endpoint = pipeline.sqs_server.endpoint_url
        pipeline.emulator.configure(
            s3_endpoint_url=endpoint,
            import_delay=self.import_delay,
            min_import_interactions=max(1, self.min_records("INTERACTIONS", import_rules.INCREMENTAL)),
        )
        # The stand-ins' dummy credentials: a laptop without any must run the bench, and real ones must never reach
        # a stand-in.
        self.s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        self.s3.create_bucket(Bucket=BUCKET)
        self.mapping = LocalEventSourceMapping(self._runner)
        self.config = SpillConfig(
            queue_url=pipeline.queues.url,
            dead_letter_queue_url=pipeline.queues.dlq_url,
            bucket=BUCKET,
            role_arn=ROLE_ARN,
            mapping_uuid=self.mapping.uuid,
            datasets=dict(pipeline.provisioned.datasets),
        )
        self.driver = SpillWorkflowDriver(local_step(self.deps), wait_scale=self.wait_scale, observe=self.observe)

    def _runner(self) -> EventSourceRunner:
        environment = self.pipeline.handler_environment(max_concurrency=self.max_concurrency)
        handlers = [load_handler(HANDLER, environment) for _ in range(self.max_concurrency)]
        return EventSourceRunner(
            queue_url=self.pipeline.queues.url,
            handler=handlers,
            sqs_client=self.pipeline.sqs,
            batch_size=self.batch_size,
            batching_window_s=default_window(self.batch_size),
            max_concurrency=self.max_concurrency,
            function_timeout_s=5.0,
            wait_time_s=1,
            max_seconds=3600.0,
        )

    def deps(self) -> SpillDeps:
        """The clients of one step invocation (``wrap`` lets a test make one of them crash)."""
        started = time.monotonic()
        sqs = self.wrap("sqs", self.pipeline.sqs)
        return SpillDeps(
            config=self.config,
            sqs=sqs,
            s3=self.wrap("s3", self.s3),
            personalize=self.wrap("personalize", self.pipeline.personalize),
            lambda_client=self.wrap("lambda", self.mapping),
            dead_letters=DeadLetterQueue(client=sqs, queue_url=self.config.dead_letter_queue_url),
            time_left=lambda: self.step_seconds - (time.monotonic() - started),
            emit=self.metrics.append,
            drain=replace(self.drain, min_records=self.min_records),
        )

    def spill(self, spill_id: str = "spill-local") -> Execution:
        """Run one execution of the workflow to its end."""
        return self.driver.run({"spillId": spill_id})

    def finish_stream(self, timeout: float = 600.0) -> None:
        """Wait for the resumed mapping's run to drain what the spill left in the queue."""
        self.mapping.wait_idle(timeout)

    def close(self) -> None:
        """Pause the mapping and wait for its run to end (before the stand-ins stop)."""
        self.mapping.update_event_source_mapping(UUID=self.mapping.uuid, Enabled=False)
        self.mapping.wait_idle(60.0)


# --- the bench -----------------------------------------------------------------------------------------------


def _publish(pipeline: LocalPipeline, bodies: list[str]) -> None:
    for start in range(0, len(bodies), 10):
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + 10])]
        pipeline.sqs.send_message_batch(QueueUrl=pipeline.queues.url, Entries=entries)  # type: ignore[arg-type]


def backlog(items: int, item_ids: int, events: int, poison: int) -> tuple[list[str], list[str]]:
    """The item changes (``items`` changes to ``item_ids`` ids, numbered so the last change per id is the newest),
    then the events and poison behind them."""
    changes = [
        json.dumps(
            {
                "type": "item",
                "itemId": f"sku-{n % item_ids:06d}",
                "changedAt": 1_767_225_600_000 + n,
                "properties": {"price": n, "genres": ["Drama"], "NUMBER_OF_RATINGS": n, "IN_STOCK": True},
            }
        )
        for n in range(items)
    ]
    behind = [
        json.dumps(
            {
                "type": "event",
                "userId": f"u-{n % 500}",
                "sessionId": f"s-{n % 200}",
                "eventType": "click",
                "itemId": f"sku-{n % item_ids:06d}",
                "sentAt": 1_767_225_600 + n,
            }
        )
        for n in range(events)
    ] + ['{"type": "item", "itemId": "null"}'] * poison
    return changes, behind


def _progress(started: float) -> Callable[[str, dict[str, Any]], None]:
    def show(name: str, state: dict[str, Any]) -> None:
        drained = state.get("drained", {})
        print(f"{time.monotonic() - started:8.1f} s  {name:<20} {json.dumps(drained)}", file=sys.stderr, flush=True)

    return show


def bench(*, items: int, item_ids: int, events: int, poison: int) -> dict[str, Any]:
    """Publish, spill, resume; report times and where every message went."""
    with LocalPipeline(kinds=("item", "event"), emulator_config=EmulatorConfig(create_delay=0.01)) as pipeline:
        changes, behind = backlog(items, item_ids, events, poison)
        started = time.monotonic()
        _publish(pipeline, changes + behind)
        published_s = time.monotonic() - started
        print(f"published {len(changes) + len(behind):,} messages in {published_s:.1f} s", file=sys.stderr)
        world = SpillWorld(
            pipeline,
            drain=DrainSettings(cut_ms=0, visibility_seconds=120, chunk_messages=2_000),
            observe=_progress(time.monotonic()),
        )
        started = time.monotonic()
        execution = world.spill()
        spilled_s = time.monotonic() - started
        world.finish_stream()
        total_s = time.monotonic() - started
        world.close()
        datasets = pipeline.provisioned.datasets
        stored_items = {r["itemId"]: r for r in pipeline.emulator.state.records(datasets["item"])}
        stored_events = list(pipeline.emulator.state.records(datasets["event"]))
        newest_ok = all(
            stored_items.get(f"sku-{i:06d}", {}).get("properties", {}).get("numberOfRatings")
            == max(n for n in range(i, items, item_ids))
            for i in range(min(item_ids, items))
        )
        drained = execution.output.get("drained", {})
        letters = pipeline.dead_letters()
        put_path = sum(summary.messages_deleted for summary in world.mapping.summaries)
        return {
            "messages": len(changes) + len(behind),
            "publishSeconds": round(published_s, 1),
            "status": execution.status,
            "spillSeconds": round(spilled_s, 1),
            "untilEverythingStoredSeconds": round(total_s, 1),
            "putPathAloneAtCeilingSeconds": round(
                items / (PUT_QUOTA_FIXED * RECORDS_PER_CALL) + events / (PUT_QUOTA_EVENTS * RECORDS_PER_CALL), 1
            ),
            "accounting": {
                "importedRows": sum(int(d["rows"]) for d in execution.output.get("compacted", {}).values()),
                "supersededInDrain": drained.get("superseded", 0),
                "supersededAtCompaction": sum(
                    int(d["dropped"]) for d in execution.output.get("compacted", {}).values()
                ),
                "deadLettered": len(letters),
                "settledByTheStream": put_path,
                "leftInQueue": pipeline.queue_depth(),
            },
            "storedItems": len(stored_items),
            "storedEvents": len(stored_events),
            "newestChangeLast": newest_ok,
            "drain": drained,
        }


def main(argv: list[str] | None = None) -> int:
    """Run the bench; print its report as JSON."""
    parser = argparse.ArgumentParser(prog="python -m local.spill_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000, help="item changes in the backlog")
    parser.add_argument("--item-ids", type=int, default=20_000, help="distinct items they change")
    parser.add_argument("--events", type=int, default=3_000, help="events behind them")
    parser.add_argument("--poison", type=int, default=50, help="malformed changes among them")
    args = parser.parse_args(argv)
    report = bench(items=args.items, item_ids=args.item_ids, events=args.events, poison=args.poison)
    print(json.dumps(report, indent=2))
    return 0 if report["status"] == "SUCCEEDED" and report["newestChangeLast"] else 1


if __name__ == "__main__":
    sys.exit(main())
