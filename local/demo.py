"""``make demo``: the whole pipeline end to end on one machine, with a report that accounts for every message.

It starts moto's SQS server and the Personalize emulator on free loopback ports, provisions a dataset group with a
dataset of every kind (``--kinds``) and the event tracker from ``schemas/``, loads a catalogue of items
(``--catalogue``) with ``backfill`` through an import job (``local.demo_catalogue``, ``local.bulk_load``), publishes
a realistic stream of changes of every kind (catalogue updates, user visits with sessions of events and action
interactions, some in SNS and EventBridge envelopes; duplicates, malformed JSON, unknown types, missing ids,
unparseable times, schema violations, oversized properties among them), drains the queue through the real
``ingest.handler.lambda_handler`` with the local event-source runner while the emulator enforces Personalize's
quotas and injects faults, and prints what happened to each kind.

It exits non-zero when any message is unaccounted for: published ≠ accepted + dead-lettered, a bad message
was accepted, a good one is missing from the emulator, or a dead letter carries the wrong error code; or when a
catalogue line or item is: read ≠ imported + superseded + rejected, or an item holds neither its imported record
nor a later streamed change.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import contract
from contract import ErrorCode
from local.bulk_load import BulkRun, load_changes, prepare_imports
from local.demo_catalogue import Catalogue, account_catalogue, render, write_catalogue
from local.emulator import EmulatorConfig
from local.environment import LocalPipeline
from local.report import QueueSampler, TimelineRecorder, build_timeline, dead_letters_from_messages, write_report
from tools.publisher import group_id

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

ACCEPT = "accepted"
KINDS = contract.KIND_NAMES
# SQS: at most 10 entries per SendMessageBatch.
PUBLISH_BATCH = 10
# Seconds the emulator takes to run the catalogue's import job (Personalize takes minutes).
IMPORT_DELAY = 0.2


@dataclass(frozen=True, slots=True)
class Published:
    """One published message and what should become of it."""

    kind: str
    body: str
    expected: str  # ACCEPT or the dead-letter ErrorCode
    record_id: str | None = None


def _item(rng: random.Random, item_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "price": round(rng.uniform(1, 500), 2),
        "genres": rng.sample(["Horror", "Action", "Comedy", "Drama", "Kids", "Documentary"], k=rng.randint(1, 3)),
        "numberOfRatings": rng.randint(0, 5000),
        "IN_STOCK": rng.random() > 0.2,
    }
    if rng.random() < 0.3:
        properties["description"] = "A product description. " * rng.randint(1, 40)
    return {"type": "item", "itemId": item_id, "properties": properties}


def _action(rng: random.Random, action_id: str) -> dict[str, Any]:
    return {
        "type": "action",
        "actionId": action_id,
        "properties": {
            "value": rng.randint(1, 1000),
            "membershipLevel": rng.choice(["bronze", "silver", "gold"]),
            "expirationTimestamp": rng.choice([1_830_000_000, "2027-12-31T00:00:00Z"]),
            "repeatFrequency": rng.randint(1, 30),
        },
    }


def _user(rng: random.Random, user_id: str) -> dict[str, Any]:
    return {
        "type": "user",
        "userId": user_id,
        # SCHEMA_NAME keys are accepted too; the pipeline sends camelCase.
        "properties": {"membershipType": rng.choice(["bronze", "silver", "gold"]), "AGE_GROUP": rng.choice(AGES)},
    }


def _event(rng: random.Random, session: str, user_id: str, item_id: str, event_id: str | None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "event",
        "sessionId": session,
        "userId": user_id,
        "eventType": rng.choice(["click", "click", "click", "purchase"]),
        "itemId": item_id,
        # Both spellings of a time: ISO-8601 and epoch seconds.
        "sentAt": "2026-11-22T10:00:00Z" if rng.random() < 0.5 else 1_763_805_600 + rng.randint(0, 86_400),
        "properties": {"device": rng.choice(["mobile", "desktop", "tv"])},
    }
    if rng.random() < 0.5:
        event["eventValue"] = round(rng.uniform(0, 5), 1)
    if event_id is not None:
        event["eventId"] = event_id
    return event


def _action_interaction(rng: random.Random, session: str, user_id: str, action_id: str) -> dict[str, Any]:
    return {
        "type": "actionInteraction",
        "actionId": action_id,
        "sessionId": session,
        "userId": user_id,
        "eventType": rng.choice(["Viewed", "Viewed", "Taken", "Not Taken"]),
        "timestamp": 1_763_805_600 + rng.randint(0, 86_400),
        "properties": {"channel": rng.choice(["email", "push", "web"])},
    }


def _sns(change: dict[str, Any]) -> str:
    """``change`` as an SNS topic delivers it to a queue without raw message delivery."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "5a1b9f0e-0000-4000-8000-000000000001",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:catalog-changes",
            "Message": json.dumps(change),
            "Timestamp": "2026-11-22T10:00:00.000Z",
        }
    )


def _eventbridge(change: dict[str, Any]) -> str:
    """``change`` as an EventBridge rule delivers it to a queue: the change is the event's ``detail``."""
    return json.dumps(
        {
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": "UserProfileChanged",
            "source": "com.example.accounts",
            "account": "123456789012",
            "time": "2026-11-22T10:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": change,
        }
    )


AGES = ["18-24", "25-34", "35-44", "45+"]


def build_stream(*, items: int, actions: int, users: int, seed: int) -> list[Published]:
    """A realistic stream of every kind: every id once, a quarter of them updated again, bad messages among them.

    Users browse in sessions (events on the stream's items) and react to actions (action interactions); half the
    events carry their own ``eventId``, the other half get one derived from their SQS message id. Some changes
    arrive inside SNS and EventBridge envelopes.
    """
    rng = random.Random(seed)
    # The stream is shuffled in blocks: a catalogue change, or one user's visit (profile, then sessions of events
    # and action interactions, in order, as a website would publish them).
    item_ids = [f"sku-{index:05d}" for index in range(items)]
    action_ids = [f"act-{index:04d}" for index in range(actions)]
    blocks = _catalogue_blocks(rng, item_ids, action_ids)
    blocks.extend(_visit(rng, index, item_ids, action_ids) for index in range(users))
    rng.shuffle(blocks)
    stream = [message for block in blocks for message in block]
    # An item published through SNS: the envelope is unwrapped, the DLQ would keep it as published.
    if item_ids:
        stream.append(Published("item", _sns(_item(rng, item_ids[0])), ACCEPT, item_ids[0]))
    for message in _bad_messages(rng):
        stream.insert(rng.randrange(len(stream) + 1), message)
    return stream


def _catalogue_blocks(rng: random.Random, item_ids: list[str], action_ids: list[str]) -> list[list[Published]]:
    """One block per catalogue change: every item (a quarter of them twice), then every action."""
    blocks: list[list[Published]] = []
    for item_id in item_ids:
        versions = 2 if rng.random() < 0.25 else 1
        blocks.extend([Published("item", json.dumps(_item(rng, item_id)), ACCEPT, item_id)] for _ in range(versions))
    for action_id in action_ids:
        blocks.append([Published("action", json.dumps(_action(rng, action_id)), ACCEPT, action_id)])
    return blocks


def _visit(rng: random.Random, index: int, item_ids: list[str], action_ids: list[str]) -> list[Published]:
    """One user's visit, in order: their profile (a quarter of them updated, some through EventBridge), then one or
    two sessions of events on items and action interactions."""
    user_id = f"user-{index:04d}"
    visit: list[Published] = []
    for _ in range(2 if rng.random() < 0.25 else 1):
        change = _user(rng, user_id)
        body = _eventbridge(change) if rng.random() < 0.2 else json.dumps(change)
        visit.append(Published("user", body, ACCEPT, user_id))
    for session_index in range(rng.randint(1, 2)):
        session = f"s-{index:04d}-{session_index}"
        for event_index in range(rng.randint(1, 5) if item_ids else 0):
            event_id = f"evt-{index:04d}-{session_index}-{event_index}" if rng.random() < 0.5 else None
            change = _event(rng, session, user_id, rng.choice(item_ids), event_id)
            # record_id None: the pipeline derives the eventId from the SQS message id.
            visit.append(Published("event", json.dumps(change), ACCEPT, event_id))
        for _ in range(rng.randint(0, 2) if action_ids else 0):
            change = _action_interaction(rng, session, user_id, rng.choice(action_ids))
            visit.append(Published("actionInteraction", json.dumps(change), ACCEPT, None))
    return visit


def _bad_messages(rng: random.Random) -> list[Published]:
    """Messages the handler must dead-letter, each with the code it must give: malformed ones, schema violations
    of each kind, then events and an action interaction the handler cannot read."""
    malformed = [
        Published("item", '{"type": "item", "itemId": "sku-broken", "properties": {', ErrorCode.MALFORMED_MESSAGE),
        Published("item", json.dumps({"type": "product", "itemId": "sku-x"}), ErrorCode.MALFORMED_MESSAGE),
        Published("item", json.dumps({"type": "item", "properties": {"price": 1}}), ErrorCode.MALFORMED_MESSAGE),
        Published("action", json.dumps({"type": "action", "actionId": "a" * 300}), ErrorCode.MALFORMED_MESSAGE),
        Published(
            "item",
            json.dumps({**_item(rng, "sku-big"), "properties": {"price": 1, "description": "x" * 40_000}}),
            ErrorCode.MALFORMED_MESSAGE,
        ),
    ]
    violations = [
        Published(
            "item",
            json.dumps({**_item(rng, "sku-colour"), "properties": {"price": 1, "colour": "red"}}),
            ErrorCode.SCHEMA_VIOLATION,
        ),
        _bad("item", {"type": "item", "itemId": "sku-cheap", "properties": {"price": "cheap"}}),
        _bad("item", {"type": "item", "itemId": "sku-genre", "properties": {"price": 1, "genres": ["g" * 1001]}}),
        _bad("action", {"type": "action", "actionId": "act-bad", "properties": {"value": "lots"}}),
        _bad("user", {"type": "user", "userId": "user-bad", "properties": {"shoeSize": 44}}),
    ]
    unreadable_streams = [
        _bad(
            "event",
            {**_event(rng, "s-bad", "user-0000", "sku-00000", None), "sentAt": "last tuesday"},
            ErrorCode.MALFORMED_MESSAGE,
        ),
        _bad(
            "event",
            {**_event(rng, "s-bad", "user-0000", "sku-00000", None), "sessionId": ""},
            ErrorCode.MALFORMED_MESSAGE,
        ),
        _bad(
            "actionInteraction",
            {k: v for k, v in _action_interaction(rng, "s-bad", "user-0000", "act-0000").items() if k != "actionId"},
            ErrorCode.MALFORMED_MESSAGE,
        ),
    ]
    return [*malformed, *violations, *unreadable_streams]


def _bad(kind: str, change: dict[str, Any], code: ErrorCode = ErrorCode.SCHEMA_VIOLATION) -> Published:
    return Published(kind, json.dumps(change), code)


def for_kinds(stream: Sequence[Published], kinds: Sequence[str]) -> list[Published]:
    """``stream`` for a dataset group holding only ``kinds``: one good change of each other kind stays in it, and
    is expected in the dead-letter queue as DatasetNotConfigured; the other changes of those kinds are left out."""
    kept: list[Published] = []
    unconfigured: set[str] = set()
    for message in stream:
        if message.kind in kinds:
            kept.append(message)
        elif message.expected == ACCEPT and message.kind not in unconfigured:
            unconfigured.add(message.kind)
            kept.append(Published(message.kind, message.body, ErrorCode.DATASET_NOT_CONFIGURED, message.record_id))
    return kept


def publish(pipeline: LocalPipeline, stream: Sequence[Published]) -> dict[str, Published]:
    """SendMessageBatch in tens, in order; returns SQS message id → message.

    On a standard queue, entries SQS reports as failed are sent again (up to five times). On a FIFO queue each
    message goes in its record's group as the project's publisher groups it (``tools.publisher.group_id``:
    ``item#sku-00001``), deduplicated by its place in the stream, and a failed entry is not sent again: it would
    go after later entries of its group, so it raises instead.
    """
    fifo = pipeline.queues.url.endswith(".fifo")
    sent: dict[str, Published] = {}
    for start in range(0, len(stream), PUBLISH_BATCH):
        pending = {str(start + i): message for i, message in enumerate(stream[start : start + PUBLISH_BATCH])}
        for _ in range(1 if fifo else 5):
            entries = [_entry(key, message, fifo=fifo) for key, message in pending.items()]
            response = pipeline.sqs.send_message_batch(QueueUrl=pipeline.queues.url, Entries=entries)
            for ok in response.get("Successful", []):
                sent[ok["MessageId"]] = pending.pop(ok["Id"])
            if not pending:
                break
        if pending:
            raise RuntimeError(f"SQS refused {len(pending)} messages")
    return sent


def _entry(key: str, message: Published, *, fifo: bool) -> SendMessageBatchRequestEntryTypeDef:
    entry: SendMessageBatchRequestEntryTypeDef = {"Id": key, "MessageBody": message.body}
    if fifo:
        entry["MessageGroupId"] = group_id(json.loads(message.body))
        entry["MessageDeduplicationId"] = key
    return entry


def account(pipeline: LocalPipeline, sent: dict[str, Published]) -> tuple[dict[str, Counter[str]], list[str]]:
    """Per kind: published, accepted, dead-lettered by code; and every discrepancy found."""
    problems: list[str] = []
    # The handler names the message it dead-letters (SourceMessageId); one the queue's redrive policy moved keeps
    # its own message id instead.
    letters = {
        letter.get(contract.SOURCE_MESSAGE_ID_ATTRIBUTE) or letter["MessageId"]: letter
        for letter in pipeline.dead_letters()
    }
    depth = pipeline.queue_depth()
    if depth:
        problems.append(f"{depth} message(s) still in the ingest queue")
    # What the emulator holds, per kind: record ids for the kinds Personalize upserts by id, event ids for the others
    # (events and action interactions, appended one per eventId).
    stored: dict[str, set[str]] = {}
    for kind, dataset_arn in pipeline.provisioned.datasets.items():
        key = contract.KIND_SPECS[kind].id_field or "eventId"
        try:
            # Only what the stream wrote: a record an import job landed (the catalogue's) proves nothing about it.
            records = pipeline.emulator.state.records(dataset_arn)
            stored[kind] = {record[key] for record in records if "importJobArn" not in record}
        except KeyError:  # the dataset is gone: it holds nothing
            stored[kind] = set()
    counts: dict[str, Counter[str]] = {}
    for message_id, message in sent.items():
        tally = counts.setdefault(message.kind, Counter())
        tally["published"] += 1
        letter = letters.pop(message_id, None)
        if letter is None:
            tally[ACCEPT] += 1
            # An event without an eventId gets its SQS message id as one (idempotent redelivery).
            record_id = message.record_id or message_id
            if message.expected != ACCEPT:
                problems.append(f"{message_id}: expected {message.expected}, but it was acknowledged as accepted")
            elif record_id not in stored.get(message.kind, set()):
                problems.append(f"{message_id}: acknowledged, but {message.kind} {record_id} is not in the emulator")
            continue
        code = letter.get(contract.ERROR_CODE_ATTRIBUTE, "(moved by the redrive policy)")
        tally[f"dlq:{code}"] += 1
        # A good message may legitimately exhaust its retries under injected faults; anything else is a misroute.
        if code != message.expected and not (message.expected == ACCEPT and code == ErrorCode.RETRIES_EXHAUSTED):
            problems.append(f"{message_id}: expected {message.expected}, dead-lettered as {code}")
        if letter["body"] != message.body:
            problems.append(f"{message_id}: the dead letter's body differs from the published one")
    if letters:
        problems.append(f"{len(letters)} dead letter(s) match no published message")
    return counts, problems


def report(counts: dict[str, Counter[str]], stats: dict[str, Any], wall_s: float, summary: dict[str, object]) -> str:
    """The human-readable report."""
    lines = [f"{'kind':<17} {'published':>9} {'accepted':>9}  dead-lettered"]
    for kind in sorted(counts, key=lambda name: KINDS.index(name) if name in KINDS else len(KINDS)):
        tally = counts[kind]
        dlq = ", ".join(f"{key[4:]} {n}" for key, n in sorted(tally.items()) if key.startswith("dlq:")) or "-"
        lines.append(f"{kind:<17} {tally['published']:>9} {tally[ACCEPT]:>9}  {dlq}")
    calls = stats["calls"]
    put_calls = {api: entry for api, entry in calls.items() if api.startswith("Put")}
    lines.append("")
    lines.append(f"{'API':<21} {'calls':>6} {'ok':>6} {'records':>8}  errors")
    for api, entry in sorted(put_calls.items()):
        errors = ", ".join(f"{code} {n}" for code, n in sorted(entry["errors"].items())) or "-"
        records = stats["recordsAccepted"].get(api, 0)
        lines.append(f"{api:<21} {entry['total']:>6} {entry['ok']:>6} {records:>8}  {errors}")
    accepted_records = sum(stats["recordsAccepted"].values())
    lines.append("")
    throttled = sum(stats["throttled"].values())
    injected = stats["faults"].get("throttle", 0)
    lines.append(
        f"throttled calls: {throttled} ({injected} injected, {throttled - injected} over Personalize's quota); "
        f"injected 5xx: {stats['faults'].get('server_error', 0)}"
    )
    lines.append(
        f"drain: {wall_s:.1f} s, {summary['invocations']} invocations, peak concurrency {summary['peak_concurrency']}, "
        f"{accepted_records / wall_s if wall_s else 0:.0f} records/s accepted"
    )
    return "\n".join(lines)


def load_catalogue(
    pipeline: LocalPipeline, scratch: Path, *, items: int, seed: int
) -> tuple[Catalogue, BulkRun] | None:
    """Write a catalogue of ``items`` items and load it with ``backfill`` through an import job (none for 0)."""
    if not items:
        return None
    catalogue = write_catalogue(scratch / "catalogue.jsonl", items=items, seed=seed, make_item=_item)
    s3 = prepare_imports(pipeline, import_delay=IMPORT_DELAY)
    print(f"loading a catalogue of {items:,} items with backfill (an import job) ...")
    run = load_changes(pipeline, s3, catalogue.path, rejects=scratch / "rejects.jsonl", prefix="catalogue/")
    return catalogue, run


def account_bulk(pipeline: LocalPipeline, bulk: tuple[Catalogue, BulkRun], sent: dict[str, Published]) -> list[str]:
    """Print the bulk path's block; return its discrepancies (items the stream changed afterwards are its own)."""
    catalogue, run = bulk
    streamed = {m.record_id for m in sent.values() if m.kind == "item" and m.expected == ACCEPT and m.record_id}
    catalogue_account, problems = account_catalogue(pipeline, catalogue, run, streamed)
    print(render(run, catalogue_account) + "\n")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; 0 when every message is accounted for."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=400, help="distinct item ids (default 400)")
    parser.add_argument(
        "--catalogue",
        type=int,
        default=20_000,
        help="items loaded through a backfill import job before the stream (default 20,000; 0: none)",
    )
    parser.add_argument("--actions", type=int, default=100, help="distinct action ids (default 100)")
    parser.add_argument(
        "--users", type=int, default=60, help="distinct users, each with sessions of events (default 60)"
    )
    parser.add_argument(
        "--kinds",
        default=",".join(KINDS),
        help=f"the kinds the dataset group has datasets for (default all: {','.join(KINDS)}); one change of each "
        "other kind is published and expected back as DatasetNotConfigured",
    )
    parser.add_argument("--concurrency", type=int, default=2, help="event source maximum concurrency (default 2)")
    parser.add_argument("--throttle-rate", type=float, default=0.05, help="injected throttling per call (0.05)")
    parser.add_argument("--server-error-rate", type=float, default=0.02, help="injected 5xx per call (0.02)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--report",
        type=Path,
        default=Path("demo-report.html"),
        help="where to write the run's report, what the CloudWatch dashboard would show (default demo-report.html)",
    )
    args = parser.parse_args(argv)
    kinds = tuple(kind.strip() for kind in args.kinds.split(",") if kind.strip())
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        parser.error(f"--kinds: unknown kind(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(KINDS)}")
    if args.catalogue < 0:
        parser.error("--catalogue must not be negative")

    config = EmulatorConfig(
        create_delay=0.05,
        delete_delay=0.05,
        throttle_rate=args.throttle_rate,
        server_error_rate=args.server_error_rate,
        seed=args.seed,
    )
    started = time.monotonic()
    with LocalPipeline(kinds=kinds, emulator_config=config) as pipeline:
        print(f"SQS (moto):            {pipeline.sqs_server.endpoint_url}")
        print(f"Personalize emulator:  {pipeline.emulator.endpoint_url}")
        print(f"dataset group:         {pipeline.provisioned.dataset_group_arn}")
        with tempfile.TemporaryDirectory(prefix="demo-catalogue-") as scratch:
            bulk = load_catalogue(
                pipeline, Path(scratch), items=args.catalogue if "item" in kinds else 0, seed=args.seed
            )
        stream = for_kinds(
            build_stream(items=args.items, actions=args.actions, users=args.users, seed=args.seed), kinds
        )
        # The recorder starts before publishing, so the report shows the queue filling as well as draining.
        recorder = TimelineRecorder()
        with QueueSampler(
            recorder, pipeline.sqs, queue_url=pipeline.queues.url, dead_letter_queue_url=pipeline.queues.dlq_url
        ):
            sent = publish(pipeline, stream)
            print(f"published {len(sent)} messages; draining with the real handler ...\n")
            summary = pipeline.drain(max_concurrency=args.concurrency, max_seconds=120, recorder=recorder)
        counts, problems = account(pipeline, sent)
        if bulk is not None:
            problems = account_bulk(pipeline, bulk, sent) + problems
        print("stream path (queue -> Lambda -> Put*):")
        print(report(counts, pipeline.emulator.state.stats(), summary.wall_time_s, summary.to_dict()))
        timeline = build_timeline(
            calls=pipeline.emulator.state.calls(),
            recording=recorder.recording(),
            dead_letters=dead_letters_from_messages(pipeline.dead_letters()),
        )
        write_report(timeline, args.report)
        print(f"report: {args.report.resolve()} (open it in a browser)")
    print(f"total {time.monotonic() - started:.1f} s")
    if problems:
        print(f"\nFAILED: {len(problems)} message(s) unaccounted for or misrouted:", file=sys.stderr)
        for problem in problems[:20]:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print()
    if bulk is not None:
        print("OK: every catalogue line is accounted for (read = imported + superseded + rejected).")
    print("OK: every message is accounted for (published = accepted + dead-lettered).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
