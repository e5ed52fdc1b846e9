"""Step 5, respond: settle every message of the batch, write the dead letters, and answer.

A message is acknowledged when Personalize accepted it, when the DLQ confirmed its dead letter, or when it is
superseded (``ingest.supersede``); every other one is reported failed, and SQS redelivers it, or moves it to the
DLQ without a reason when it is on its last delivery. The steps avoid that move where they can: a message on its
last delivery gets its dead letter, with the reason, from the handler.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from contract import Dimension, ErrorCode, Metric
from ingest import fifo, supersede
from ingest.dead_letter import DeadLetter, DeadLetterWriter
from ingest.decode import Message
from ingest.errors import Disposition
from ingest.ledger import Failure, Fates, Ledger
from ingest.send import BLOCKED_BY_EARLIER_FAILURE
from ingest.telemetry import Log, Telemetry


@dataclass(slots=True)
class BatchResult:
    """What happened to one batch: the message ids to report as failed, and the counters."""

    failed: list[str]
    telemetry: Telemetry
    accepted: set[str] = field(default_factory=set)
    dead_lettered: dict[str, ErrorCode] = field(default_factory=dict)
    # Acknowledged unwritten: message id → the newer change to its record that replaces it (ingest.supersede).
    superseded: dict[str, str] = field(default_factory=dict)

    def response(self) -> dict[str, list[dict[str, str]]]:
        """The Lambda response for an SQS event source with ReportBatchItemFailures."""
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in self.failed]}


@dataclass(frozen=True, slots=True)
class Outlet:
    """Where settling writes: the dead-letter queue (within the time left), the counters and the log."""

    dead_letters: DeadLetterWriter
    time_left: Callable[[], float | None]
    telemetry: Telemetry
    log: Log


def settle(messages: Sequence[Message], ledger: Ledger, outlet: Outlet) -> BatchResult:
    """Decide every message's fate from ``ledger``, write the dead letters, and answer.

    The order matters: each message's own fate first, then what FIFO order holds back, then what a newer change
    supersedes (it sees the letters and failures decided so far), then the dead-letter writes, and last what a
    failed write re-fails.
    """
    by_id = {message.message_id: message for message in messages}
    fates = own_fates(ledger, by_id, outlet)
    fifo.hold_back(ledger, messages, by_id, fates)
    newest = supersede.newest_changes(ledger, set(fates.refused))
    supersede.supersede(ledger, by_id, fates, newest)
    # A rider supersede did not acknowledge is redelivered with its leader: its leader is being retried (a leader
    # with a pending letter, or one on its last delivery, makes supersede acknowledge its riders).
    fates.failed |= set(fates.riders)
    # Whatever the DLQ does not confirm stays in the queue (its write failure is logged by write_letters).
    ordered = sorted((letter for key, letter in fates.letters.items() if key not in fates.failed), key=_position)
    dead_lettered = write_letters(ordered, outlet)
    unwritten = {letter.message.message_id for letter in ordered} - set(dead_lettered)
    fates.failed |= unwritten
    fates.explained |= unwritten
    # A DLQ write that failed re-fails the later messages of its group, except those safely dead-lettered
    # (failing them too would put a second copy in the DLQ on redelivery) and the superseded ones (their newer
    # change, later in the group, is re-failed too, or dead-lettered). An older change Personalize accepted
    # with its newer one stays acknowledged on its last delivery for the same reason (see supersede).
    refailed = set(fifo.behind_failed(messages, fates.failed)) - set(dead_lettered) - set(fates.superseded)
    fates.failed |= {key for key in refailed if not (key in newest and ledger.last_delivery(by_id[key]))}
    return answer(messages, ledger, fates, dead_lettered, outlet)


def own_fates(ledger: Ledger, by_id: dict[str, Message], outlet: Outlet) -> Fates:
    """Each failed message's own fate: retried, or dead-lettered as RetriesExhausted on its last delivery. A
    setup error is always retried: never dead-lettered. A rider's fate waits for its leader's."""
    fates = Fates(letters={letter.message.message_id: letter for letter in ledger.poison})
    fates.refused = set(fates.letters)
    for message_id, entry in ledger.failures.items():
        message, failure = by_id[message_id], entry.failure
        if entry.leader is not None:
            fates.riders[message_id] = entry
        elif failure.disposition is Disposition.SETUP:
            # The dataset is gone or the policy is wrong: retry, count, alarm.
            outlet.telemetry.count(Metric.SETUP_ERRORS, 1, {Dimension.ERROR_CODE: failure.error_code})
            outlet.log.warning(
                "setup error", extra={"message_id": message_id, "error_code": failure.error_code, "api": entry.api}
            )
            fates.failed.add(message_id)
            fates.explained.add(message_id)
        elif ledger.last_delivery(message):
            fates.letters[message_id] = DeadLetter(message, ErrorCode.RETRIES_EXHAUSTED, entry.reason, entry.api)
        else:
            fates.failed.add(message_id)
    return fates


def write_letters(letters: Sequence[DeadLetter], outlet: Outlet) -> dict[str, ErrorCode]:
    """Write ``letters`` within the time left; return the ones the DLQ confirmed, logged and counted."""
    if not letters:
        return {}
    unwritten = outlet.dead_letters.send(letters, time_left_s=outlet.time_left())
    dead_lettered: dict[str, ErrorCode] = {}
    for letter in letters:
        message_id = letter.message.message_id
        if message_id in unwritten:
            outlet.log.warning(
                "dead-letter write failed", extra={"message_id": message_id, "error_code": str(letter.code)}
            )
            continue
        dead_lettered[message_id] = letter.code
        outlet.telemetry.count(Metric.RECORDS_DEAD_LETTERED, 1, {Dimension.ERROR_CODE: str(letter.code)})
        outlet.log.info(
            "dead-lettered", extra={"message_id": message_id, "error_code": str(letter.code), "api": letter.api}
        )
    return dead_lettered


def answer(
    messages: Sequence[Message], ledger: Ledger, fates: Fates, dead_lettered: dict[str, ErrorCode], outlet: Outlet
) -> BatchResult:
    """Count, log (ids and codes only) and answer."""
    telemetry, log = outlet.telemetry, outlet.log
    for message_id, newer in fates.superseded.items():
        telemetry.count(Metric.RECORDS_SUPERSEDED, 1, {Dimension.API: ledger.changes[message_id].kind.api})
        entry = ledger.failures.get(message_id)
        log.info(
            "superseded",
            extra={
                "message_id": message_id,
                "superseded_by": newer,
                "error_code": entry.failure.error_code if entry else None,
            },
        )
    failed = fates.failed
    telemetry.count(Metric.RECORDS_FAILED, len(failed))
    # One line per message SQS will redeliver and why, so a message id found in the queue or the DLQ can be
    # traced through every invocation that saw it.
    for message in messages:
        if message.message_id in failed - fates.explained:
            # Not in failures: a later message of a FIFO group that failed after it was planned or sent.
            entry = ledger.failures.get(message.message_id, Failure(BLOCKED_BY_EARLIER_FAILURE, None))
            log.info(
                "left for redelivery",
                extra={"message_id": message.message_id, "error_code": entry.failure.error_code, "api": entry.api},
            )
    accepted = ledger.accepted - failed
    log.info(
        "batch done",
        extra={
            "messages": len(messages),
            "accepted": len(accepted),
            "superseded": len(fates.superseded),
            "dead_lettered": len(dead_lettered),
            "failed": len(failed),
        },
    )
    return BatchResult(
        failed=[message.message_id for message in messages if message.message_id in failed],
        telemetry=telemetry,
        accepted=accepted,
        dead_lettered=dead_lettered,
        superseded=fates.superseded,
    )


def _position(letter: DeadLetter) -> int:
    return letter.message.position
