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
from ingest.errors import CallFailure, Disposition, ErrorCode, RejectedRecord, classify
from ingest.kinds import Kind
from ingest.model import ApiModel, api_models
from ingest.plan import plan_calls
from ingest.schema import DatasetSchema
from ingest.send import BLOCKED_BY_EARLIER_FAILURE, Accepted, Failed, Pacer, RecordSink, Rejected, Sender
from ingest.settings import Settings
from ingest.telemetry import Telemetry
from ingest.validate import ValidRecord, validate

# Pace at 90 % of the quota: calls leave with jitter, and a service counting in a sliding one-second window
# throttles a pacer that aims exactly at the limit (measured against the emulator: ~10 % of calls throttled).
QUOTA_HEADROOM = 0.9


class DeadLetterWriter(Protocol):
    """Writes dead letters; returns the message ids it could not write."""

    def send(self, letters: Sequence[DeadLetter]) -> set[str]:
        """Write ``letters`` to the DLQ."""


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


def process_batch(records: Sequence[SqsRecord], runtime: Runtime, *, deadline: float, log: Log) -> BatchResult:
    """Process one Lambda SQS batch.

    Parameters
    ----------
    records:
        The event's ``Records``.
    runtime:
        Settings and adapters.
    deadline:
        ``runtime.clock()`` time after which no new call is started (the invocation keeps a reserve to write
        dead letters and answer).
    log:
        Receives ids, codes and counts only: never bodies or property values.
    """
    batch = _Batch(runtime, deadline, log)
    messages = [Message.from_record(record, position) for position, record in enumerate(records)]
    changes = batch.decode_all(messages)
    valid = batch.validate_all(changes)
    batch.send_all(valid)
    return batch.respond(messages)


class _Batch:
    """The working state of one batch: outcomes per message id as the steps decide them."""

    def __init__(self, runtime: Runtime, deadline: float, log: Log) -> None:
        self.runtime = runtime
        self.log = log
        self.telemetry = Telemetry()
        self.letters: list[DeadLetter] = []
        self.failures: dict[str, tuple[CallFailure, str | None]] = {}
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

    def fail(self, message: Message, failure: CallFailure, api: str | None) -> None:
        self.failures[message.message_id] = (failure, api)
        if message.group_id is not None and self.redelivered(message, failure):
            first = self.first_failure.get(message.group_id, message.position)
            self.first_failure[message.group_id] = min(first, message.position)

    def blocked(self, message: Message) -> bool:
        """FIFO: whether an earlier message of this one's group failed, so this one must not be sent now."""
        first = self.first_failure.get(message.group_id) if message.group_id is not None else None
        return first is not None and first < message.position

    def _unexpected(self, message: Message, exc: Exception) -> None:
        """A bug of ours met by one record: retry it (it reaches the DLQ as RetriesExhausted with the reason)
        rather than raise, which would fail, and eventually dead-letter without a reason, the whole batch."""
        self.telemetry.count("UnexpectedErrors", 1, ErrorType=type(exc).__name__)
        self.log.warning("unexpected error", extra={"message_id": message.message_id, "error": type(exc).__name__})
        self.fail(message, CallFailure(Disposition.RETRYABLE, type(exc).__name__, str(exc)[:200]), None)

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
            info = self.runtime.catalog.describe(kind, dataset)
        except Exception as exc:
            return classify(exc)
        target = settings.targets.get(kind.name) or info.tracking_id
        if not target:
            return RejectedRecord(ErrorCode.DATASET_NOT_CONFIGURED, f"{kind.name}: {kind.target_env} is not set")
        self.targets[kind.name] = target
        return info.schema

    def send_all(self, records: list[ValidRecord]) -> None:
        """Send in rounds: when the newest change to an id is rejected, the older ones it hid get their turn."""
        fifo = any(record.change.message.group_id for record in records)
        max_records = {name: api.max_records for name, api in self.runtime.apis.items()}
        pending = records
        while pending:
            plan = plan_calls(pending, targets=self.targets, max_records=max_records, collapse=not fifo)
            pending = []
            for call in plan.calls:
                api = call.kind.api
                # FIFO: never send a change past an earlier one of its group that failed, at any step so far
                # (decode, DescribeDataset, an earlier call); the sender applies the same rule inside a call.
                sendable = [record for record in call.records if not self.blocked(record.change.message)]
                for record in call.records:
                    if self.blocked(record.change.message):
                        self.fail(record.change.message, BLOCKED_BY_EARLIER_FAILURE, api)
                if not sendable:
                    continue
                outcomes = self.sender.send(dataclasses.replace(call, records=tuple(sendable)))
                for record in sendable:
                    message = record.change.message
                    riders = plan.superseded.get(message.message_id, [])
                    outcome = outcomes[message.message_id]
                    if isinstance(outcome, Accepted):
                        self.accepted.add(message.message_id)
                        self.accepted.update(rider.change.message.message_id for rider in riders)
                        self.telemetry.count("RecordsAccepted", 1 + len(riders), Api=api)
                        self.telemetry.count("RecordsSuperseded", len(riders), Api=api)
                    elif isinstance(outcome, Rejected):
                        self.reject(message, ErrorCode.INVALID_INPUT, outcome.failure.message, api)
                        pending.extend(riders)
                    elif isinstance(outcome, Failed):
                        for failed in (record, *riders):
                            self.fail(failed.change.message, outcome.failure, api)

    def respond(self, messages: Sequence[Message]) -> BatchResult:
        settings = self.runtime.settings
        failed: set[str] = set()
        explained: set[str] = set()  # failed messages whose reason is already logged
        by_id = {message.message_id: message for message in messages}
        for message_id, (failure, api) in self.failures.items():
            message = by_id[message_id]
            if failure.disposition is Disposition.SETUP:
                # The dataset is gone or the policy is wrong: retry, count, alarm; never dead-letter.
                self.telemetry.count("SetupErrors", 1, ErrorCode=failure.error_code)
                self.log.warning(
                    "setup error", extra={"message_id": message_id, "error_code": failure.error_code, "api": api}
                )
                failed.add(message_id)
                explained.add(message_id)
            elif settings.max_receive_count and message.receive_count >= settings.max_receive_count:
                reason = f"{failure.error_code}: {failure.message}" if failure.message else failure.error_code
                self.reject(message, ErrorCode.RETRIES_EXHAUSTED, reason, api)
            else:
                failed.add(message_id)
        # FIFO: every later message of a failed group is redelivered, in order, so none is dead-lettered now.
        failed |= _later_in_failed_groups(messages, failed)
        self.letters = [letter for letter in self.letters if letter.message.message_id not in failed]
        unwritten = self.runtime.dead_letters.send(self.letters) if self.letters else set()
        dead_lettered = {}
        for letter in self.letters:
            message_id = letter.message.message_id
            if message_id in unwritten:
                failed.add(message_id)
                explained.add(message_id)
                self.log.warning(
                    "dead-letter write failed", extra={"message_id": message_id, "error_code": str(letter.code)}
                )
                continue
            dead_lettered[message_id] = letter.code
            self.telemetry.count("RecordsDeadLettered", 1, ErrorCode=str(letter.code))
            self.log.info(
                "dead-lettered", extra={"message_id": message_id, "error_code": str(letter.code), "api": letter.api}
            )
        # A DLQ write that failed re-fails the later messages of its group, except those already safely
        # dead-lettered: failing them too would put a second copy in the DLQ on redelivery.
        failed |= _later_in_failed_groups(messages, failed) - set(dead_lettered)
        self.telemetry.count("RecordsFailed", len(failed))
        # One line per message SQS will redeliver and why (ids and codes only), so a message id found in the
        # queue or the DLQ can be traced through every invocation that saw it.
        for message_id in sorted(failed - explained, key=lambda key: by_id[key].position):
            # Not in failures: a later message of a FIFO group that failed after it was planned or sent.
            failure, api = self.failures.get(message_id, (BLOCKED_BY_EARLIER_FAILURE, None))
            self.log.info(
                "left for redelivery", extra={"message_id": message_id, "error_code": failure.error_code, "api": api}
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
