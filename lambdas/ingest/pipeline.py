"""decode → validate → plan → send → respond, for one SQS batch (DESIGN.md "The ingest algorithm").

The invariant this module keeps: a message is acknowledged only when Personalize accepted its change, or when
the dead-letter queue confirmed its copy. Every other message is reported in ``batchItemFailures``.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ingest.catalog import DatasetCatalog
from ingest.dead_letter import DeadLetter
from ingest.decode import Change, Message, SqsRecord, decode
from ingest.errors import CallFailure, Disposition, ErrorCode, RejectedRecord, classify, unexpected
from ingest.kinds import Kind
from ingest.model import ApiModel, api_models
from ingest.plan import Call, Plan, plan_calls, plan_fifo_round
from ingest.schema import DatasetSchema
from ingest.send import BLOCKED, BLOCKED_BY_EARLIER_FAILURE, Accepted, Outcome, Pacer, RecordSink, Rejected, Sender
from ingest.settings import Settings
from ingest.telemetry import Telemetry
from ingest.validate import ValidRecord, validate

# Pace at 90 % of the quota: calls leave with jitter, and a service counting in a sliding one-second window
# throttles a pacer that aims exactly at the limit (measured against the emulator: ~10 % of calls throttled).
QUOTA_HEADROOM = 0.9


class DeadLetterWriter(Protocol):
    """Writes dead letters; returns the message ids it could not write."""

    def send(self, letters: Sequence[DeadLetter], *, time_left_s: float | None = None) -> set[str]:
        """Write ``letters`` to the DLQ, starting no write that could end later than ``time_left_s`` from now."""


class Log(Protocol):
    """The slice of a logger the pipeline uses (Powertools' Logger and logging.Logger both fit)."""

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        """Log at INFO."""

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        """Log at WARNING."""


@dataclass(slots=True)
class Runtime:
    """Everything that lives as long as the execution environment: settings, adapters, the pacer."""

    settings: Settings
    catalog: DatasetCatalog
    sink: RecordSink
    dead_letters: DeadLetterWriter
    pacer: Pacer = field(default_factory=Pacer)
    apis: dict[str, ApiModel] = field(default_factory=api_models)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)


@dataclass(slots=True)
class BatchResult:
    """What happened to one batch: the message ids to report as failed, and the counters."""

    failed: list[str]
    telemetry: Telemetry
    accepted: set[str] = field(default_factory=set)
    dead_lettered: dict[str, ErrorCode] = field(default_factory=dict)

    def response(self) -> dict[str, list[dict[str, str]]]:
        """The Lambda response for an SQS event source with ReportBatchItemFailures."""
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in self.failed]}


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
    batch = _Batch(runtime, deadline, log, finish_by)
    messages = [Message.from_record(record, position) for position, record in enumerate(records)]
    changes = batch.decode_all(messages)
    valid = batch.validate_all(changes)
    batch.send_all(valid)
    return batch.respond(messages)


@dataclass(frozen=True, slots=True)
class _Failure:
    """Why a message was not written, and whose fate decides what becomes of it.

    ``leader`` is set for a superseded change: the newest change to its id, whose failure it shares. Whether it is
    redelivered or dead-lettered follows the leader's delivery count, not its own, so an older change is never
    dead-lettered (and later redriven over newer state) while the newest is still being retried.
    """

    failure: CallFailure
    api: str | None
    leader: str | None = None


class _Batch:
    """The working state of one batch: outcomes per message id as the steps decide them."""

    def __init__(self, runtime: Runtime, deadline: float, log: Log, finish_by: float | None = None) -> None:
        self.runtime = runtime
        self.log = log
        self.deadline = deadline
        self.finish_by = finish_by
        self.telemetry = Telemetry()
        self.letters: list[DeadLetter] = []
        self.failures: dict[str, _Failure] = {}
        # FIFO: the batch position of the first failed message of each group; nothing after it may be sent.
        self.first_failure: dict[str, int] = {}
        self.accepted: set[str] = set()
        self.targets: dict[str, str] = {}
        self.sender = Sender(
            sink=runtime.sink,
            apis=runtime.apis,
            telemetry=self.telemetry,
            deadline=deadline,
            pacer=runtime.pacer,
            calls_per_second=self._calls_per_second,
            clock=runtime.clock,
            sleep=runtime.sleep,
            rng=runtime.rng,
            holds_group=self.redelivered,
        )

    def _calls_per_second(self, api: ApiModel) -> float | None:
        concurrency = self.runtime.settings.max_concurrency
        return api.kind.quota_per_second * QUOTA_HEADROOM / concurrency if concurrency else None

    def reject(self, message: Message, code: ErrorCode, reason: str, api: str | None = None) -> None:
        self.letters.append(DeadLetter(message=message, code=code, reason=reason, api=api))

    def redelivered(self, message: Message, failure: CallFailure) -> bool:
        """Whether SQS will deliver ``message`` again after ``failure``; on its last delivery it is dead-lettered
        instead (RetriesExhausted), and like any dead letter it no longer holds back the rest of its FIFO group."""
        limit = self.runtime.settings.max_receive_count
        return failure.disposition is Disposition.SETUP or not (limit and message.receive_count >= limit)

    def fail(self, message: Message, failure: CallFailure, api: str | None, leader: Message | None = None) -> None:
        """Record that ``message`` was not written; a superseded change names the ``leader`` whose fate it shares."""
        self.failures[message.message_id] = _Failure(failure, api, leader.message_id if leader else None)
        if message.group_id is not None and self.redelivered(leader or message, failure):
            first = self.first_failure.get(message.group_id, message.position)
            self.first_failure[message.group_id] = min(first, message.position)

    def blocked(self, message: Message) -> bool:
        """FIFO: whether an earlier message of this one's group failed, so this one must not be sent now."""
        first = self.first_failure.get(message.group_id) if message.group_id is not None else None
        return first is not None and first < message.position

    def _unexpected(self, message: Message, exc: Exception) -> None:
        """A bug of ours met by one record: retry it (it reaches the DLQ as RetriesExhausted, naming the exception
        class) rather than raise, which would fail, and eventually dead-letter without a reason, the whole batch."""
        self.telemetry.count("UnexpectedErrors", 1, ErrorType=type(exc).__name__)
        self.log.warning("unexpected error", extra={"message_id": message.message_id, "error": type(exc).__name__})
        self.fail(message, unexpected(exc), None)

    def decode_all(self, messages: Sequence[Message]) -> list[Change]:
        changes = []
        for message in messages:
            try:
                change = decode(message)
            except RejectedRecord as rejection:
                self.reject(message, rejection.code, rejection.message)
                continue
            except Exception as exc:  # one record must never fail the batch (see _unexpected)
                self._unexpected(message, exc)
                continue
            self.telemetry.count("RecordsReceived", 1, Kind=change.kind.name)
            changes.append(change)
        return changes

    def validate_all(self, changes: Sequence[Change]) -> list[ValidRecord]:
        resolved = {kind.name: self._resolve(kind) for kind in {change.kind for change in changes}}
        valid = []
        for change in changes:
            schema = resolved[change.kind.name]
            if isinstance(schema, RejectedRecord):
                self.reject(change.message, schema.code, schema.message)
            elif isinstance(schema, CallFailure):
                self.fail(change.message, schema, "DescribeDataset")
            else:
                try:
                    valid.append(validate(change, self.runtime.apis[change.kind.name], schema))
                except RejectedRecord as rejection:
                    self.reject(change.message, rejection.code, rejection.message)
                except Exception as exc:  # one record must never fail the batch (see _unexpected)
                    self._unexpected(change.message, exc)
        return valid

    def _resolve(self, kind: Kind) -> DatasetSchema | CallFailure | RejectedRecord:
        """The schema a kind validates against (and its target), or why its records cannot be handled now."""
        settings = self.runtime.settings
        dataset = settings.datasets.get(kind.name)
        if dataset is None:
            return RejectedRecord(ErrorCode.DATASET_NOT_CONFIGURED, f"{kind.name}: {kind.dataset_env} is not set")
        try:
            info = self.runtime.catalog.describe(kind, dataset, time_left_s=self.deadline - self.runtime.clock())
        except Exception as exc:
            return classify(exc)
        target = settings.targets.get(kind.name) or info.tracking_id
        if not target:
            return RejectedRecord(ErrorCode.DATASET_NOT_CONFIGURED, f"{kind.name}: {kind.target_env} is not set")
        self.targets[kind.name] = target
        return info.schema

    def send_all(self, records: list[ValidRecord]) -> None:
        """Send in rounds until every record has an outcome.

        Standard queues: one plan for the whole batch; a further round only when the newest change to an id was
        rejected and the older ones it hid get their turn. FIFO queues: one round per step of the message groups
        (``plan_fifo_round``), so that no record is sent before every earlier record of its group was accepted.
        """
        fifo = any(record.change.message.group_id for record in records)
        max_records = {name: api.max_records for name, api in self.runtime.apis.items()}
        pending = records
        while pending:
            if fifo:
                # Never send a change past an earlier one of its group that failed, at any step so far (decode,
                # DescribeDataset, an earlier round); the sender applies the same rule inside a call.
                ready = [record for record in pending if not self._held_back(record)]
                plan = plan_fifo_round(ready, targets=self.targets, max_records=max_records)
                pending = _not_planned(ready, plan)
            else:
                plan = plan_calls(pending, targets=self.targets, max_records=max_records, collapse=True)
                pending = []
            for call in plan.calls:
                pending.extend(self._send_call(call, plan))
            pending.sort(key=lambda record: record.change.message.position)

    def _held_back(self, record: ValidRecord) -> bool:
        """FIFO: fail ``record`` unsent when an earlier message of its group failed; True if it did."""
        if not self.blocked(record.change.message):
            return False
        self.fail(record.change.message, BLOCKED_BY_EARLIER_FAILURE, record.change.kind.api)
        return True

    def _send_call(self, call: Call, plan: Plan) -> list[ValidRecord]:
        """Send one planned call and settle each record's outcome; return the changes that get another turn."""
        api = call.kind.api
        sendable = [record for record in call.records if not self.blocked(record.change.message)]
        for record in call.records:
            if self.blocked(record.change.message):
                self._settle(record, plan, BLOCKED, api)
        if not sendable:
            return []
        outcomes = self.sender.send(dataclasses.replace(call, records=tuple(sendable)))
        another_turn: list[ValidRecord] = []
        for record in sendable:
            another_turn.extend(self._settle(record, plan, outcomes[record.change.message.message_id], api))
        return another_turn

    def _settle(self, record: ValidRecord, plan: Plan, outcome: Outcome, api: str) -> list[ValidRecord]:
        """Apply a sent record's outcome to it and to the older changes it superseded (its riders)."""
        message = record.change.message
        riders = plan.superseded.get(message.message_id, [])
        if isinstance(outcome, Accepted):
            self.accepted.add(message.message_id)
            self.accepted.update(rider.change.message.message_id for rider in riders)
            self.telemetry.count("RecordsAccepted", 1 + len(riders), Api=api)
            self.telemetry.count("RecordsSuperseded", len(riders), Api=api)
            return []
        if isinstance(outcome, Rejected):
            self.reject(message, outcome.failure.dead_letter_code, outcome.failure.message, api)
            return list(riders)  # the newest change is refused: the older ones are no longer superseded
        self.fail(message, outcome.failure, api)
        for rider in riders:
            self.fail(rider.change.message, outcome.failure, api, leader=message)
        return []

    def respond(self, messages: Sequence[Message]) -> BatchResult:
        settings = self.runtime.settings
        failed: set[str] = set()
        explained: set[str] = set()  # failed messages whose reason is already logged
        by_id = {message.message_id: message for message in messages}
        # A superseded change's dead letter is written only once its leader's is: alone in the DLQ, a redrive
        # would apply it after the newest change, which is still in the queue, and go backwards.
        followers: list[tuple[DeadLetter, str]] = []
        for message_id, entry in self.failures.items():
            message, failure = by_id[message_id], entry.failure
            fate = by_id[entry.leader] if entry.leader else message
            if failure.disposition is Disposition.SETUP:
                # The dataset is gone or the policy is wrong: retry, count, alarm; never dead-letter.
                self.telemetry.count("SetupErrors", 1, ErrorCode=failure.error_code)
                self.log.warning(
                    "setup error", extra={"message_id": message_id, "error_code": failure.error_code, "api": entry.api}
                )
                failed.add(message_id)
                explained.add(message_id)
            elif settings.max_receive_count and fate.receive_count >= settings.max_receive_count:
                reason = f"{failure.error_code}: {failure.message}" if failure.message else failure.error_code
                letter = DeadLetter(message=message, code=ErrorCode.RETRIES_EXHAUSTED, reason=reason, api=entry.api)
                if entry.leader:
                    followers.append((letter, entry.leader))
                else:
                    self.letters.append(letter)
            else:
                failed.add(message_id)
        # FIFO: every later message of a failed group is redelivered, in order, so none is dead-lettered now.
        failed |= _later_in_failed_groups(messages, failed)
        dead_lettered = self._write([letter for letter in self.letters if letter.message.message_id not in failed])
        followed = [letter for letter, leader in followers if leader in dead_lettered]
        failed |= {letter.message.message_id for letter, leader in followers if leader not in dead_lettered}
        dead_lettered |= self._write([letter for letter in followed if letter.message.message_id not in failed])
        # Whatever the DLQ did not confirm stays in the queue (its write failure is logged by _write).
        attempted = {letter.message.message_id for letter in (*self.letters, *followed)} - failed
        unwritten = attempted - set(dead_lettered)
        failed |= unwritten
        explained |= unwritten
        # A DLQ write that failed re-fails the later messages of its group, except those already safely
        # dead-lettered: failing them too would put a second copy in the DLQ on redelivery.
        failed |= _later_in_failed_groups(messages, failed) - set(dead_lettered)
        self.telemetry.count("RecordsFailed", len(failed))
        # One line per message SQS will redeliver and why (ids and codes only), so a message id found in the
        # queue or the DLQ can be traced through every invocation that saw it.
        for message_id in sorted(failed - explained, key=lambda key: by_id[key].position):
            # Not in failures: a later message of a FIFO group that failed after it was planned or sent.
            entry = self.failures.get(message_id, _Failure(BLOCKED_BY_EARLIER_FAILURE, None))
            self.log.info(
                "left for redelivery",
                extra={"message_id": message_id, "error_code": entry.failure.error_code, "api": entry.api},
            )
        self.log.info(
            "batch done",
            extra={
                "messages": len(messages),
                "accepted": len(self.accepted - failed),
                "dead_lettered": len(dead_lettered),
                "failed": len(failed),
            },
        )
        return BatchResult(
            failed=[message.message_id for message in messages if message.message_id in failed],
            telemetry=self.telemetry,
            accepted=self.accepted - failed,
            dead_lettered=dead_lettered,
        )

    def _write(self, letters: Sequence[DeadLetter]) -> dict[str, ErrorCode]:
        """Write ``letters`` within the time left; return the ones the DLQ confirmed, logged and counted."""
        if not letters:
            return {}
        time_left = None if self.finish_by is None else self.finish_by - self.runtime.clock()
        unwritten = self.runtime.dead_letters.send(letters, time_left_s=time_left)
        dead_lettered: dict[str, ErrorCode] = {}
        for letter in letters:
            message_id = letter.message.message_id
            if message_id in unwritten:
                self.log.warning(
                    "dead-letter write failed", extra={"message_id": message_id, "error_code": str(letter.code)}
                )
                continue
            dead_lettered[message_id] = letter.code
            self.telemetry.count("RecordsDeadLettered", 1, ErrorCode=str(letter.code))
            self.log.info(
                "dead-lettered", extra={"message_id": message_id, "error_code": str(letter.code), "api": letter.api}
            )
        return dead_lettered


def _later_in_failed_groups(messages: Sequence[Message], failed: set[str]) -> set[str]:
    """FIFO: a failed message fails every later message of its group, so order survives redelivery."""
    failed_groups: set[str] = set()
    extra: set[str] = set()
    for message in messages:
        if message.group_id is None:
            continue
        if message.group_id in failed_groups:
            extra.add(message.message_id)
        elif message.message_id in failed:
            failed_groups.add(message.group_id)
    return extra


def _not_planned(records: Sequence[ValidRecord], plan: Plan) -> list[ValidRecord]:
    """The records a FIFO round left for later: in none of its calls, and superseded by none of them."""
    planned = {record.change.message.message_id for call in plan.calls for record in call.records}
    planned |= {rider.change.message.message_id for riders in plan.superseded.values() for rider in riders}
    return [record for record in records if record.change.message.message_id not in planned]
