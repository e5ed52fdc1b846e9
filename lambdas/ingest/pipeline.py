"""decode → validate → plan → send → respond, for one SQS batch (DESIGN.md "The ingest algorithm").

The invariant this module keeps: a message is acknowledged only when Personalize accepted its change, or when
the dead-letter queue confirmed its copy, or when a newer change to the same record (items, actions and users are
replaced whole) was accepted or stays in SQS's keeping (see ``_Batch.respond``). Every other message is reported in
``batchItemFailures``.
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
from ingest.decode import Change, Message, SqsRecord, decode, from_fifo_queue
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
    # Acknowledged unwritten: message id → the newer change to its record that replaces it (see _Batch.respond).
    superseded: dict[str, str] = field(default_factory=dict)

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
    # One batch comes from one queue; its ARN says whether it is FIFO (a standard queue's message may carry a
    # MessageGroupId too: fair queues).
    batch = _Batch(runtime, deadline, log, finish_by, fifo=any(from_fifo_queue(record) for record in records))
    messages = [Message.from_record(record, position) for position, record in enumerate(records)]
    changes = batch.decode_all(messages)
    valid = batch.validate_all(changes)
    batch.send_all(valid)
    return batch.respond(messages)


@dataclass(frozen=True, slots=True)
class _Failure:
    """Why a message was not written, and whose fate decides what becomes of it.

    ``leader`` is set for a superseded change (a rider): the newest change to its id in its call, whose failure it
    shares. It is redelivered with its leader, or acknowledged as superseded (``_Batch._supersede``), never
    dead-lettered on its own (a redrive would then write it over newer state).
    """

    failure: CallFailure
    api: str | None
    leader: str | None = None


@dataclass(slots=True)
class _Fates:
    """What ``respond`` decides, step by step: by message id, which are reported failed (and which of those have
    their reason logged already), which get which dead letter, which are riders still to settle, which are
    superseded (and by which newer message), and which were refused for their own content (poison)."""

    failed: set[str] = field(default_factory=set)
    explained: set[str] = field(default_factory=set)
    letters: dict[str, DeadLetter] = field(default_factory=dict)
    riders: dict[str, _Failure] = field(default_factory=dict)
    superseded: dict[str, str] = field(default_factory=dict)
    refused: set[str] = field(default_factory=set)


class _Batch:
    """The working state of one batch: outcomes per message id as the steps decide them."""

    def __init__(
        self, runtime: Runtime, deadline: float, log: Log, finish_by: float | None = None, *, fifo: bool = False
    ) -> None:
        self.runtime = runtime
        self.log = log
        self.deadline = deadline
        self.finish_by = finish_by
        self.fifo = fifo
        self.telemetry = Telemetry()
        # The poison: dead letters decided on a message's own content (decode, validate, InvalidInput).
        self.letters: list[DeadLetter] = []
        self.failures: dict[str, _Failure] = {}
        # By message id, every decoded change and every valid record: what record each message changes.
        self.changes: dict[str, Change] = {}
        self.records: dict[str, ValidRecord] = {}
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

    def last_delivery(self, message: Message) -> bool:
        """Whether SQS's redrive policy moves ``message`` to the DLQ if it is reported failed now."""
        limit = self.runtime.settings.max_receive_count
        return limit is not None and limit > 0 and message.receive_count >= limit

    def redelivered(self, message: Message, failure: CallFailure) -> bool:
        """Whether SQS will deliver ``message`` again after ``failure``; on its last delivery it is dead-lettered
        instead (RetriesExhausted) or acknowledged as superseded, and either way it no longer holds back the rest
        of its FIFO group."""
        return failure.disposition is Disposition.SETUP or not self.last_delivery(message)

    def fail(self, message: Message, failure: CallFailure, api: str | None, leader: Message | None = None) -> None:
        """Record that ``message`` was not written; a superseded change names the ``leader`` whose fate it shares.

        A superseded change holds back nothing of its FIFO group: its leader, later in the group and failed with
        it, does (everything between the two went out in the leader's call or before it).
        """
        self.failures[message.message_id] = _Failure(failure, api, leader.message_id if leader else None)
        if message.group_id is not None and leader is None and self.redelivered(message, failure):
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
            self.changes[message.message_id] = change
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
                    record = validate(change, self.runtime.apis[change.kind.name], schema)
                    valid.append(record)
                    self.records[change.message.message_id] = record
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
        fifo = self.fifo
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
        """Settle every message that was not accepted, write the dead letters, and answer.

        A message is acknowledged when Personalize accepted it, when the DLQ confirmed its dead letter, or when it
        is superseded (``_supersede``); every other one is reported failed, and SQS redelivers it, or moves it to
        the DLQ without a reason when it is on its last delivery. The steps avoid that move where they can: a
        message on its last delivery gets its dead letter, with the reason, from the handler.
        """
        by_id = {message.message_id: message for message in messages}
        fates = self._own_fates(by_id)
        self._hold_back(messages, by_id, fates)
        newest = self._newest_changes(set(fates.refused))
        self._supersede(by_id, fates, newest)
        # A rider _supersede did not acknowledge is redelivered with its leader: its leader is being retried (a
        # leader with a pending letter, or one on its last delivery, makes _supersede acknowledge its riders).
        fates.failed |= set(fates.riders)
        # Whatever the DLQ does not confirm stays in the queue (its write failure is logged by _write).
        ordered = sorted((letter for key, letter in fates.letters.items() if key not in fates.failed), key=_position)
        dead_lettered = self._write(ordered)
        unwritten = {letter.message.message_id for letter in ordered} - set(dead_lettered)
        fates.failed |= unwritten
        fates.explained |= unwritten
        # A DLQ write that failed re-fails the later messages of its group, except those safely dead-lettered
        # (failing them too would put a second copy in the DLQ on redelivery) and the superseded ones (their newer
        # change, later in the group, is re-failed too, or dead-lettered). An older change Personalize accepted
        # with its newer one stays acknowledged on its last delivery for the same reason (see _supersede).
        refailed = set(_behind_failed(messages, fates.failed)) - set(dead_lettered) - set(fates.superseded)
        fates.failed |= {key for key in refailed if not (key in newest and self.last_delivery(by_id[key]))}
        return self._answer(messages, fates, dead_lettered)

    def _own_fates(self, by_id: dict[str, Message]) -> _Fates:
        """Each failed message's own fate: retried, or dead-lettered as RetriesExhausted on its last delivery. A
        setup error is always retried: never dead-lettered. A rider's fate waits for its leader's."""
        fates = _Fates(letters={letter.message.message_id: letter for letter in self.letters})
        fates.refused = set(fates.letters)
        for message_id, entry in self.failures.items():
            message, failure = by_id[message_id], entry.failure
            if entry.leader is not None:
                fates.riders[message_id] = entry
            elif failure.disposition is Disposition.SETUP:
                # The dataset is gone or the policy is wrong: retry, count, alarm.
                self.telemetry.count("SetupErrors", 1, ErrorCode=failure.error_code)
                self.log.warning(
                    "setup error", extra={"message_id": message_id, "error_code": failure.error_code, "api": entry.api}
                )
                fates.failed.add(message_id)
                fates.explained.add(message_id)
            elif self.last_delivery(message):
                fates.letters[message_id] = DeadLetter(
                    message, ErrorCode.RETRIES_EXHAUSTED, _reason(failure), entry.api
                )
            else:
                fates.failed.add(message_id)
        return fates

    def _hold_back(self, messages: Sequence[Message], by_id: dict[str, Message], fates: _Fates) -> None:
        """FIFO: after a message SQS redelivers, every later message of its group is redelivered too, in order, and
        so not dead-lettered now (a poison one is, on a later delivery).

        Except on its last delivery: SQS would then move it to the DLQ on its next receive, without a reason. So it
        is dead-lettered now, with the reason, and acknowledged once the DLQ confirmed it. Moved by SQS or written
        here, it leaves the queue before the failed message comes back: its group's order is the same either way.
        (On a FIFO queue a message is received no more often than the earlier ones of its group, so the failed one
        is usually on its last delivery too: a setup error, which SQS moves to the DLQ after this letter. A redrive
        then replays the two in reverse order; they change different records, an older change to the same record
        being superseded, so the records end the same.)
        """
        for message_id, holder in _behind_failed(messages, fates.failed).items():
            if message_id in fates.failed or message_id in fates.riders:
                continue  # a setup error is retried, never dead-lettered; a rider follows its leader
            message = by_id[message_id]
            if not self.last_delivery(message):
                fates.failed.add(message_id)
                fates.letters.pop(message_id, None)
                continue
            own = self.failures.get(message_id)
            if message_id not in fates.letters or (own is not None and own.failure == BLOCKED_BY_EARLIER_FAILURE):
                # A letter of its own keeps its own reason (poison, or the failure of its own call).
                cause = f"held back behind message {holder.message_id} of its group, which failed: "
                cause += _reason(self.failures[holder.message_id].failure)
                fates.letters[message_id] = DeadLetter(
                    message, ErrorCode.RETRIES_EXHAUSTED, cause, self._api(message_id)
                )

    def _supersede(self, by_id: dict[str, Message], fates: _Fates, newest: dict[str, str]) -> None:
        """Acknowledge the older changes to an item, action or user that a newer change in the batch replaces.

        A newer change replaces the record whole (PERSONALIZE.md §1, "Upsert"), and the newest change to a record
        that was not refused is never lost: it is accepted, or reported failed (SQS redelivers it, or moves it to
        the DLQ), or dead-lettered. So an older change that was not written is acknowledged when the newer one was
        accepted or is being dead-lettered, and, on its own last delivery, also when the newer one was not. Reported
        failed, SQS would move it to the DLQ alone and without a reason, and ``redrive --codes RedrivePolicy`` would
        later write it over the newer state; dead-lettered by the handler, even right after its newer change, a
        redrive would replay it last and so write it over the newer state the same way. (Should the
        newer change be refused later, redelivered and then InvalidInput, the record keeps the state it had, and
        the newer change waits in the DLQ for a fix.)

        FIFO order holds: the older change's content is applied, if ever, only as its newer change, which comes
        later in the same group and so is redelivered (or dead-lettered) after any earlier failed message of the
        group. And acknowledging it releases nothing: the messages after it that a failure holds back stay held by
        that failure, or by the newer change itself, which is failed or dead-lettered (a rider holds back nothing
        of its own: ``fail``).
        """
        for message_id, newer in newest.items():
            if message_id in self.accepted or message_id in fates.refused:
                continue
            kept_by_newer = (newer in self.accepted and newer not in fates.failed) or newer in fates.letters
            if kept_by_newer or self.last_delivery(by_id[message_id]):
                fates.superseded[message_id] = newer
                fates.failed.discard(message_id)
                fates.letters.pop(message_id, None)
                fates.riders.pop(message_id, None)

    def _answer(self, messages: Sequence[Message], fates: _Fates, dead_lettered: dict[str, ErrorCode]) -> BatchResult:
        """Count, log (ids and codes only) and answer."""
        for message_id, newer in fates.superseded.items():
            self.telemetry.count("RecordsSuperseded", 1, Api=self.changes[message_id].kind.api)
            entry = self.failures.get(message_id)
            self.log.info(
                "superseded",
                extra={
                    "message_id": message_id,
                    "superseded_by": newer,
                    "error_code": entry.failure.error_code if entry else None,
                },
            )
        failed = fates.failed
        self.telemetry.count("RecordsFailed", len(failed))
        # One line per message SQS will redeliver and why, so a message id found in the queue or the DLQ can be
        # traced through every invocation that saw it.
        for message in messages:
            if message.message_id in failed - fates.explained:
                # Not in failures: a later message of a FIFO group that failed after it was planned or sent.
                entry = self.failures.get(message.message_id, _Failure(BLOCKED_BY_EARLIER_FAILURE, None))
                self.log.info(
                    "left for redelivery",
                    extra={"message_id": message.message_id, "error_code": entry.failure.error_code, "api": entry.api},
                )
        self.log.info(
            "batch done",
            extra={
                "messages": len(messages),
                "accepted": len(self.accepted - failed),
                "superseded": len(fates.superseded),
                "dead_lettered": len(dead_lettered),
                "failed": len(failed),
            },
        )
        return BatchResult(
            failed=[message.message_id for message in messages if message.message_id in failed],
            telemetry=self.telemetry,
            accepted=self.accepted - failed,
            dead_lettered=dead_lettered,
            superseded=fates.superseded,
        )

    def _newest_changes(self, refused: set[str]) -> dict[str, str]:
        """Each older change to an item, action or user → the newest change to that record in this batch, of those
        not refused. FIFO: within its message group, by group order (a group orders nothing against another);
        standard queues: by SentTimestamp, then position, as ``plan_calls`` collapses them.

        A change that could not be validated yet (its kind's DescribeDataset failed) counts by the id it names: it
        is redelivered, and should it prove invalid then, it is refused like any newer change refused later.
        """
        changes: dict[tuple[str | None, str, str], list[Message]] = {}
        for message_id, change in self.changes.items():
            record_id = self._record_id(message_id, change)
            if record_id is None or message_id in refused:
                continue
            message = change.message
            changes.setdefault((message.group_id, change.kind.name, record_id), []).append(message)
        newest: dict[str, str] = {}
        for members in changes.values():
            members.sort(key=lambda message: (0 if self.fifo else message.sent_timestamp, message.position))
            newest.update((older.message_id, members[-1].message_id) for older in members[:-1])
        return newest

    def _record_id(self, message_id: str, change: Change) -> str | None:
        """The id of the record an upsert change replaces (None for events, or an id not even a string)."""
        record = self.records.get(message_id)
        if record is not None:
            return record.collapse_key
        value = change.fields.get(change.kind.id_field) if change.kind.id_field else None
        return value if isinstance(value, str) else None

    def _api(self, message_id: str) -> str | None:
        change = self.changes.get(message_id)
        return change.kind.api if change else None

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


def _behind_failed(messages: Sequence[Message], failed: set[str]) -> dict[str, Message]:
    """FIFO: every message after its group's first failed one (by message id), and that failed message."""
    holders: dict[str, Message] = {}
    held: dict[str, Message] = {}
    for message in messages:
        if message.group_id is None:
            continue
        holder = holders.get(message.group_id)
        if holder is not None:
            held[message.message_id] = holder
        elif message.message_id in failed:
            holders[message.group_id] = message
    return held


def _reason(failure: CallFailure) -> str:
    """A RetriesExhausted letter's ErrorMessage: the last error (code and the service's message, no values)."""
    return f"{failure.error_code}: {failure.message}" if failure.message else failure.error_code


def _position(letter: DeadLetter) -> int:
    return letter.message.position


def _not_planned(records: Sequence[ValidRecord], plan: Plan) -> list[ValidRecord]:
    """The records a FIFO round left for later: in none of its calls, and superseded by none of them."""
    planned = {record.change.message.message_id for call in plan.calls for record in call.records}
    planned |= {rider.change.message.message_id for riders in plan.superseded.values() for rider in riders}
    return [record for record in records if record.change.message.message_id not in planned]
