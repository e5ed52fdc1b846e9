"""The per-message state of one batch: what each step found out about each message, by message id.

The steps of ``ingest.pipeline`` write it (``Ledger``); ``ingest.fifo``, ``ingest.supersede`` and
``ingest.settle`` read it, and settling writes its decisions into ``Fates``. Nothing here decides anything: the
rules live in those modules, as functions over these two records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contract import ErrorCode
from ingest.dead_letter import DeadLetter
from ingest.decode import Change, Message
from ingest.errors import CallFailure, Disposition
from ingest.validate import ValidRecord


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a message was not written, and whose fate decides what becomes of it.

    ``leader`` is set for a superseded change (a rider): the newest change to its id in its call, whose failure it
    shares. It is redelivered with its leader, or acknowledged as superseded (``ingest.supersede``), never
    dead-lettered on its own (a redrive would then write it over newer state).
    """

    failure: CallFailure
    api: str | None
    leader: str | None = None

    @property
    def reason(self) -> str:
        """A RetriesExhausted letter's ErrorMessage: the last error (code and the service's message, no values)."""
        failure = self.failure
        return f"{failure.error_code}: {failure.message}" if failure.message else failure.error_code


@dataclass(slots=True)
class Ledger:
    """What happened to each message of one batch, by message id, as decode, validate and send find it out.

    Attributes
    ----------
    fifo:
        Whether the batch comes from a FIFO queue.
    max_receive_count:
        The ingest queue's redrive limit (``last_delivery``).
    changes:
        Every decoded change: what record each message changes.
    records:
        Every valid record.
    poison:
        The dead letters decided on a message's own content (decode, validate, InvalidInput).
    failures:
        The messages not written for now (retryable, throttled, a setup error, held back).
    first_failure:
        FIFO: by group, the batch position of its first failed message that SQS redelivers; nothing after it
        may be sent.
    accepted:
        The messages Personalize accepted (a superseded change counts when its newest change was accepted).
    """

    fifo: bool
    max_receive_count: int | None
    changes: dict[str, Change] = field(default_factory=dict)
    records: dict[str, ValidRecord] = field(default_factory=dict)
    poison: list[DeadLetter] = field(default_factory=list)
    failures: dict[str, Failure] = field(default_factory=dict)
    first_failure: dict[str, int] = field(default_factory=dict)
    accepted: set[str] = field(default_factory=set)

    def reject(self, message: Message, code: ErrorCode, reason: str, api: str | None = None) -> None:
        """``message`` can never be written as it is: it gets a dead letter with ``code``."""
        self.poison.append(DeadLetter(message=message, code=code, reason=reason, api=api))

    def fail(self, message: Message, failure: CallFailure, api: str | None, leader: Message | None = None) -> None:
        """Record that ``message`` was not written; a superseded change names the ``leader`` whose fate it shares.

        A failed message SQS redelivers holds back the rest of its FIFO group (``ingest.fifo.blocked``). A
        superseded change holds back nothing: its leader, later in the group and failed with it, does (everything
        between the two went out in the leader's call or before it).
        """
        self.failures[message.message_id] = Failure(failure, api, leader.message_id if leader else None)
        if message.group_id is not None and leader is None and self.redelivered(message, failure):
            first = self.first_failure.get(message.group_id, message.position)
            self.first_failure[message.group_id] = min(first, message.position)

    def last_delivery(self, message: Message) -> bool:
        """Whether SQS's redrive policy moves ``message`` to the DLQ if it is reported failed now."""
        limit = self.max_receive_count
        return limit is not None and limit > 0 and message.receive_count >= limit

    def redelivered(self, message: Message, failure: CallFailure) -> bool:
        """Whether SQS will deliver ``message`` again after ``failure``; on its last delivery it is dead-lettered
        instead (RetriesExhausted) or acknowledged as superseded, and either way it no longer holds back the rest
        of its FIFO group."""
        return failure.disposition is Disposition.SETUP or not self.last_delivery(message)

    def api_of(self, message_id: str) -> str | None:
        """The API a decoded message's change goes to (None when it could not be decoded)."""
        change = self.changes.get(message_id)
        return change.kind.api if change else None


@dataclass(slots=True)
class Fates:
    """What settling decides, step by step, by message id.

    Attributes
    ----------
    failed:
        Reported in ``batchItemFailures``: SQS redelivers them.
    explained:
        Those of ``failed`` whose reason is logged already.
    letters:
        The dead letter each one gets.
    riders:
        Superseded changes still to settle: they follow their leader.
    superseded:
        Acknowledged unwritten, each by the newer message that replaces it.
    refused:
        Dead-lettered for their own content (poison).
    """

    failed: set[str] = field(default_factory=set)
    explained: set[str] = field(default_factory=set)
    letters: dict[str, DeadLetter] = field(default_factory=dict)
    riders: dict[str, Failure] = field(default_factory=dict)
    superseded: dict[str, str] = field(default_factory=dict)
    refused: set[str] = field(default_factory=set)
