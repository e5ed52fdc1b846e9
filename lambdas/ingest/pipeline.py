"""decode → validate → plan → send → respond, for one SQS batch (docs/design.md "The ingest algorithm").

The invariant the steps keep: a message is acknowledged only when Personalize accepted its change, or when the
dead-letter queue confirmed its copy, or when a newer change to the same record (items, actions and users are
replaced whole) was accepted or stays in SQS's keeping (``ingest.supersede``). Every other message is reported in
``batchItemFailures``.

``process_batch`` reads as the algorithm does, one step after the other; each step writes what it finds out about
each message into the batch's ``Ledger``. FIFO order (``ingest.fifo``), superseding (``ingest.supersede``) and
settling every message's fate (``ingest.settle``) are functions over that ledger. Sending runs a round's independent
calls concurrently (``ingest.concurrency``); every write to the ledger then holds the invocation's lock.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from contract import Dimension, ErrorCode, Metric
from ingest import fifo
from ingest.catalog import DatasetCatalog
from ingest.concurrency import MAX_CALLS_IN_FLIGHT, chains, run_all
from ingest.dead_letter import DeadLetterWriter
from ingest.decode import Change, Message, SqsRecord, decode, from_fifo_queue
from ingest.defer import DEFERRED, Requeue, arrived_full, may_defer, split_tails
from ingest.errors import CallFailure, RejectedRecord, classify, unexpected
from ingest.kinds import Kind
from ingest.ledger import Ledger
from ingest.model import ApiModel, api_models
from ingest.pacing import Pacer
from ingest.plan import Call, Plan, plan_calls, plan_fifo_round
from ingest.schema import DatasetSchema
from ingest.send import BLOCKED, Accepted, Failed, Outcome, RecordSink, Rejected, Sender
from ingest.settings import Settings
from ingest.settle import BatchResult, Outlet, settle
from ingest.telemetry import Log, Telemetry
from ingest.validate import ValidRecord, validate

__all__ = ["BatchResult", "Runtime", "process_batch"]


@dataclass(slots=True)
class Runtime:
    """Everything that lives as long as the execution environment: settings, adapters, the pacer.

    ``requeue`` makes deferred records visible again (``ingest.defer``; None: nothing is deferred);
    ``max_in_flight`` bounds the calls one invocation has in flight at once (``ingest.concurrency``).
    """

    settings: Settings
    catalog: DatasetCatalog
    sink: RecordSink
    dead_letters: DeadLetterWriter
    pacer: Pacer = field(default_factory=Pacer)
    requeue: Requeue | None = None
    max_in_flight: int = MAX_CALLS_IN_FLIGHT
    apis: dict[str, ApiModel] = field(default_factory=api_models)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)


def process_batch(
    records: Sequence[SqsRecord],
    runtime: Runtime,
    *,
    deadline: float,
    log: Log,
    finish_by: float | None = None,
) -> BatchResult:
    """Process one Lambda SQS batch.

    Parameters
    ----------
    records:
        The event's ``Records``.
    runtime:
        Settings and adapters.
    deadline:
        ``runtime.clock()`` time by which every Personalize call has ended (each is bounded by the time left);
        what follows it is the reserve for writing dead letters and answering.
    log:
        Receives ids, codes and counts only: never bodies or property values.
    finish_by:
        ``runtime.clock()`` time by which the dead-letter writes have ended (None: no limit); letters that do not
        fit are reported failed, so SQS redelivers them.
    """
    # One batch comes from one queue; its ARN says whether it is FIFO (a standard queue's message may carry a
    # MessageGroupId too: fair queues).
    ledger = Ledger(
        fifo=any(from_fifo_queue(record) for record in records),
        max_receive_count=runtime.settings.max_receive_count,
    )
    batch = _Invocation(
        runtime=runtime,
        deadline=deadline,
        ledger=ledger,
        telemetry=Telemetry(),
        log=log,
        records=records,
        full=arrived_full(records, runtime.settings.batch_size),
    )
    messages = [Message.from_record(record, position) for position, record in enumerate(records)]
    # 1. decode: a body → a typed change, or MalformedMessage.
    changes = _decode_all(batch, messages)
    # 2. validate: against the API's model and the dataset's schema.
    valid = _validate_all(batch, changes)
    # 3 and 4. plan and send, in rounds, until every valid record has an outcome.
    _send_all(batch, valid)
    # 5. respond: settle every message (acknowledged, retried, dead-lettered), write the letters, answer.
    outlet = Outlet(
        dead_letters=runtime.dead_letters,
        time_left=lambda: None if finish_by is None else finish_by - runtime.clock(),
        telemetry=batch.telemetry,
        log=log,
    )
    return settle(messages, ledger, outlet)


@dataclass(frozen=True, slots=True)
class _Invocation:
    """What every step of one batch works with: the runtime and its deadline, the ledger, counters and log, the
    event's records and whether the batch arrived full, and the target each kind's calls write to (resolved while
    validating). ``lock`` guards the ledger while calls are in flight."""

    runtime: Runtime
    deadline: float
    ledger: Ledger
    telemetry: Telemetry
    log: Log
    records: Sequence[SqsRecord] = ()
    full: bool = False
    targets: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


# --- 1. decode -----------------------------------------------------------------------------------------------------


def _decode_all(batch: _Invocation, messages: Sequence[Message]) -> list[Change]:
    changes = []
    for message in messages:
        try:
            change = decode(message)
        except RejectedRecord as rejection:
            batch.ledger.reject(message, rejection.code, rejection.message)
            continue
        except Exception as exc:  # one record must never fail the batch (see _unexpected)
            _unexpected(batch, message, exc)
            continue
        batch.telemetry.count(Metric.RECORDS_RECEIVED, 1, {Dimension.KIND: change.kind.name})
        changes.append(change)
        batch.ledger.changes[message.message_id] = change
    return changes


def _unexpected(batch: _Invocation, message: Message, exc: Exception) -> None:
    """A bug of ours met by one record: retry it (it reaches the DLQ as RetriesExhausted, naming the exception
    class) rather than raise, which would fail, and eventually dead-letter without a reason, the whole batch."""
    batch.telemetry.count(Metric.UNEXPECTED_ERRORS, 1, {Dimension.ERROR_TYPE: type(exc).__name__})
    batch.log.warning("unexpected error", extra={"message_id": message.message_id, "error": type(exc).__name__})
    batch.ledger.fail(message, unexpected(exc), None)


# --- 2. validate ---------------------------------------------------------------------------------------------------


def _validate_all(batch: _Invocation, changes: Sequence[Change]) -> list[ValidRecord]:
    ledger = batch.ledger
    resolved = {kind.name: _resolve(batch, kind) for kind in {change.kind for change in changes}}
    valid = []
    for change in changes:
        schema = resolved[change.kind.name]
        if isinstance(schema, RejectedRecord):
            ledger.reject(change.message, schema.code, schema.message)
        elif isinstance(schema, CallFailure):
            ledger.fail(change.message, schema, "DescribeDataset")
        else:
            try:
                record = validate(change, batch.runtime.apis[change.kind.name], schema)
                valid.append(record)
                ledger.records[change.message.message_id] = record
            except RejectedRecord as rejection:
                ledger.reject(change.message, rejection.code, rejection.message)
            except Exception as exc:  # one record must never fail the batch (see _unexpected)
                _unexpected(batch, change.message, exc)
    return valid


def _resolve(batch: _Invocation, kind: Kind) -> DatasetSchema | CallFailure | RejectedRecord:
    """The schema a kind validates against (and its target), or why its records cannot be handled now."""
    runtime = batch.runtime
    settings = runtime.settings
    dataset = settings.datasets.get(kind.name)
    if dataset is None:
        return RejectedRecord(ErrorCode.DATASET_NOT_CONFIGURED, f"{kind.name}: {kind.dataset_env} is not set")
    try:
        info = runtime.catalog.describe(kind, dataset, time_left_s=batch.deadline - runtime.clock())
    except Exception as exc:
        return classify(exc)
    target = settings.targets.get(kind.name) or info.tracking_id
    if not target:
        return RejectedRecord(ErrorCode.DATASET_NOT_CONFIGURED, f"{kind.name}: {kind.target_env} is not set")
    batch.targets[kind.name] = target
    return info.schema


# --- 3 and 4. plan and send ------------------------------------------------------------------------------------------


def _send_all(batch: _Invocation, records: list[ValidRecord]) -> None:
    """Send in rounds until every record has an outcome; a round's independent calls go out concurrently.

    Standard queues: one plan for the whole batch; a further round only when the newest change to an id was
    rejected and the older ones it hid get their turn. FIFO queues: one round per step of the message groups
    (``plan_fifo_round``), so that no record is sent before every earlier record of its group was accepted; the
    calls of one group within a round form a chain, sent in order.
    """
    ledger, runtime = batch.ledger, batch.runtime
    sender = Sender(
        sink=runtime.sink,
        apis=runtime.apis,
        telemetry=batch.telemetry,
        deadline=batch.deadline,
        pacer=runtime.pacer,
        clock=runtime.clock,
        sleep=runtime.sleep,
        rng=runtime.rng,
        holds_group=ledger.redelivered,
    )
    max_records = {name: api.max_records for name, api in runtime.apis.items()}
    pending = records
    first_round = True
    while pending:
        deferred: list[Call] = []
        if ledger.fifo:
            # Never send a change past an earlier one of its group that failed, at any step so far (decode,
            # DescribeDataset, an earlier round); the sender applies the same rule inside a call.
            ready = [record for record in pending if not fifo.fail_if_blocked(ledger, record)]
            plan = plan_fifo_round(ready, targets=batch.targets, max_records=max_records)
            pending = fifo.not_planned(ready, plan)
        else:
            plan = plan_calls(pending, targets=batch.targets, max_records=max_records, collapse=True)
            pending = []
            if first_round and batch.full and runtime.requeue is not None:
                deferrable = may_defer(ledger.max_receive_count)
                plan, deferred = split_tails(plan, deferrable=deferrable, max_records=max_records)
        first_round = False
        tasks: list[Callable[[], list[ValidRecord]]] = [
            partial(_send_chain, batch, sender, chain, plan) for chain in chains(plan.calls)
        ]
        if deferred:
            tasks.append(partial(_defer, batch, sender, deferred, plan))
        for another_turn in run_all(tasks, max_workers=runtime.max_in_flight):
            pending.extend(another_turn)
        pending.sort(key=lambda record: record.change.message.position)


def _send_chain(batch: _Invocation, sender: Sender, chain: Sequence[Call], plan: Plan) -> list[ValidRecord]:
    """Send dependent calls one after the other; return the changes that get another turn."""
    another_turn: list[ValidRecord] = []
    for call in chain:
        another_turn.extend(_send_call(batch, sender, call, plan))
    return another_turn


def _defer(batch: _Invocation, sender: Sender, calls: Sequence[Call], plan: Plan) -> list[ValidRecord]:
    """Make the records of partial calls visible again for a later batch; send those that could not be."""
    requeue, runtime = batch.runtime.requeue, batch.runtime
    handles: dict[str, Call] = {}
    for call in calls:
        for record in call.records:
            handle = _receipt_handle(batch, record)
            if handle is not None:
                handles[handle] = call
    queue_arn = str(batch.records[0].get("eventSourceARN", "")) if batch.records else ""
    released = (
        requeue.release(queue_arn, list(handles), time_left_s=batch.deadline - runtime.clock())
        if requeue is not None and queue_arn and len(handles) == sum(len(call.records) for call in calls)
        else set()
    )
    another_turn: list[ValidRecord] = []
    for call in calls:
        if all(_receipt_handle(batch, record) in released for record in call.records):
            with batch.lock:
                for record in call.records:
                    _record_outcome(batch, record, plan, Failed(DEFERRED), call.kind.api)
        else:
            # Not all of it went back to the queue: send it, those made visible included (a second delivery of
            # one of them is an upsert of the same change, harmless).
            another_turn.extend(_send_call(batch, sender, call, plan))
    return another_turn


def _receipt_handle(batch: _Invocation, record: ValidRecord) -> str | None:
    handle = batch.records[record.change.message.position].get("receiptHandle")
    return handle if isinstance(handle, str) and handle else None


def _send_call(batch: _Invocation, sender: Sender, call: Call, plan: Plan) -> list[ValidRecord]:
    """Send one planned call and record each record's outcome; return the changes that get another turn."""
    ledger, api = batch.ledger, call.kind.api
    with batch.lock:
        sendable = [record for record in call.records if not fifo.blocked(ledger, record.change.message)]
        for record in call.records:
            if fifo.blocked(ledger, record.change.message):
                _record_outcome(batch, record, plan, BLOCKED, api)
    if not sendable:
        return []
    outcomes = sender.send(dataclasses.replace(call, records=tuple(sendable)))
    another_turn: list[ValidRecord] = []
    with batch.lock:
        for record in sendable:
            outcome = outcomes[record.change.message.message_id]
            another_turn.extend(_record_outcome(batch, record, plan, outcome, api))
    return another_turn


def _record_outcome(
    batch: _Invocation, record: ValidRecord, plan: Plan, outcome: Outcome, api: str
) -> list[ValidRecord]:
    """Apply a sent record's outcome to it and to the older changes it superseded (its riders); return the riders
    that get another turn. The caller holds ``batch.lock``."""
    ledger, message = batch.ledger, record.change.message
    riders = plan.superseded.get(message.message_id, [])
    if isinstance(outcome, Accepted):
        ledger.accepted.add(message.message_id)
        ledger.accepted.update(rider.change.message.message_id for rider in riders)
        batch.telemetry.count(Metric.RECORDS_ACCEPTED, 1 + len(riders), {Dimension.API: api})
        batch.telemetry.count(Metric.RECORDS_SUPERSEDED, len(riders), {Dimension.API: api})
        return []
    if isinstance(outcome, Rejected):
        ledger.reject(message, outcome.failure.dead_letter_code, outcome.failure.message, api)
        return list(riders)  # the newest change is refused: the older ones are no longer superseded
    ledger.fail(message, outcome.failure, api)
    for rider in riders:
        ledger.fail(rider.change.message, outcome.failure, api, leader=message)
    return []
