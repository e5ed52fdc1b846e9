"""What a dead letter is: one DLQ message, its docs/contracts.md §3 attributes, and the codes the tool knows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from contract import (
    API_ATTRIBUTE,
    ERROR_CODE_ATTRIBUTE,
    ERROR_MESSAGE_ATTRIBUTE,
    KIND_SPECS,
    ORIGIN_MESSAGE_ID_ATTRIBUTE,
    SOURCE_MESSAGE_ID_ATTRIBUTE,
    ErrorCode,
)
from ingest.decode import Message, decode

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

# The attributes the ingest Lambda adds when it dead-letters a record. A copy sent back drops the ones that
# describe the failure (a fresh failure gets fresh ones) but carries the original message's id in
# PersonalizeIngest.SourceMessageId, from which the Lambda derives a missing eventId, so an event copied twice after
# a crash, or replayed after a partial failure, still counts once in training (docs/contracts.md §3).
FAILURE_ATTRIBUTES: Final = frozenset({ERROR_CODE_ATTRIBUTE, ERROR_MESSAGE_ATTRIBUTE, API_ATTRIBUTE})
# A message without ErrorCode was not written by the handler: the ingest queue's redrive policy moved it after
# maxReceiveCount deliveries (the function crashed or timed out on it, or a setup error outlasted the retries).
REDRIVE_POLICY: Final = "RedrivePolicy"
REDRIVE_POLICY_MEANING: Final = (
    "no ErrorCode: moved by the ingest queue's redrive policy after maxReceiveCount deliveries "
    "(a crash, a timeout, or a setup error that outlasted the retries)"
)
KNOWN_CODES: Final[tuple[str, ...]] = (*(str(code) for code in ErrorCode), REDRIVE_POLICY)
# What replay re-validates: rejections that a fixed schema or configuration can cure. MalformedMessage is the
# body's own fault; RetriesExhausted and redrive-policy moves were never invalid (redrive them instead).
REPLAYABLE: Final[tuple[str, ...]] = (
    str(ErrorCode.SCHEMA_VIOLATION),
    str(ErrorCode.INVALID_INPUT),
    str(ErrorCode.DATASET_NOT_CONFIGURED),
)
# The request fields that identify a record (docs/contracts.md §1): shown by inspect. Ids, never property values.
RECORD_ID_FIELDS: Final[tuple[str, ...]] = ("itemId", "actionId", "userId", "sessionId", "eventId")
MAX_ID_CHARS: Final = 256  # the longest id Personalize accepts (docs/personalize.md §2); longer is not an id
UNDECODABLE: Final = "(not decodable)"


@dataclass(frozen=True, slots=True)
class DeadLetterMessage:
    """One message as received from the DLQ: its body, its attributes, and the handle to act on it."""

    message_id: str
    receipt_handle: str
    body: str
    attributes: Mapping[str, Mapping[str, Any]]
    system: Mapping[str, str]

    @classmethod
    def from_sqs(cls, raw: Mapping[str, Any]) -> DeadLetterMessage:
        """Wrap one entry of a ReceiveMessage answer."""
        return cls(
            message_id=str(raw["MessageId"]),
            receipt_handle=str(raw["ReceiptHandle"]),
            body=str(raw.get("Body", "")),
            attributes=dict(raw.get("MessageAttributes") or {}),
            system=dict(raw.get("Attributes") or {}),
        )

    def _string(self, name: str) -> str | None:
        value = self.attributes.get(name)
        return str(value["StringValue"]) if value and "StringValue" in value else None

    @property
    def code(self) -> str:
        """The ErrorCode attribute, or :data:`REDRIVE_POLICY` when the message has none."""
        return self._string(ERROR_CODE_ATTRIBUTE) or REDRIVE_POLICY

    @property
    def error_message(self) -> str | None:
        """Why the handler dead-lettered it (field names and limits, never values)."""
        return self._string(ERROR_MESSAGE_ATTRIBUTE)

    @property
    def source_message_id(self) -> str | None:
        """The id of the message as first published, when this letter names it in a way the tool can trust.

        ``PersonalizeIngest.SourceMessageId`` is set only by the pipeline (the handler's dead letters, this tool's
        copies). A letter the handler wrote before that name existed names it in ``SourceMessageId`` only: trusted
        on a letter with an ErrorCode, which only the handler writes (its letters carry no upstream attribute).
        On a message the redrive policy moved, a bare ``SourceMessageId`` may be a publisher's own attribute (a
        correlation id), never an id of ours: None then, and its DLQ message id (the original's) stands in.
        """
        origin = self._string(ORIGIN_MESSAGE_ID_ATTRIBUTE)
        if origin is not None:
            return origin
        return self._string(SOURCE_MESSAGE_ID_ATTRIBUTE) if self.code != REDRIVE_POLICY else None

    @property
    def carries_origin_id(self) -> bool:
        """Whether the message, moved as it is (a move task), names its original to the Lambda: the Lambda trusts
        ``PersonalizeIngest.SourceMessageId`` alone."""
        return self._string(ORIGIN_MESSAGE_ID_ATTRIBUTE) is not None

    @property
    def api(self) -> str | None:
        """The Personalize API called, when the record failed in a call."""
        return self._string(API_ATTRIBUTE)

    @property
    def group_id(self) -> str | None:
        """The FIFO message group, on a FIFO DLQ."""
        return self.system.get("MessageGroupId")

    @property
    def sent_at(self) -> datetime | None:
        """When SQS accepted it into the DLQ. A redrive-policy move into a standard DLQ keeps the ingest queue's
        enqueue time; into a FIFO DLQ it resets it to the move
        (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/setting-up-dead-letter-queue-retention.html)."""
        raw = self.system.get("SentTimestamp")
        return datetime.fromtimestamp(int(raw) / 1000, tz=UTC) if raw and raw.isdigit() else None

    def as_ingest_message(self) -> Message:
        """The message as the ingest Lambda would see it on its first delivery."""
        return Message(
            message_id=self.source_message_id or self.message_id,
            body=self.body,
            position=0,
            receive_count=1,
            sent_timestamp=int(self.system.get("SentTimestamp", "0") or 0),
            group_id=self.group_id,
            source_message_id=self.source_message_id,
        )

    def record(self) -> tuple[str | None, dict[str, str]]:
        """The record's kind (``item``, ``event``...) and ids, read with the Lambda's own decoder; (None, {}) when
        the body is not a change it can read. Ids only: never a property value."""
        try:
            change = decode(self.as_ingest_message())
        except Exception:  # MalformedMessage, or a body the decoder chokes on: one message must not stop a pass
            return None, {}
        ids = {
            name: str(value)
            for name in RECORD_ID_FIELDS
            if isinstance(value := change.fields.get(name), str | int)
            and not isinstance(value, bool)
            and len(str(value)) <= MAX_ID_CHARS
        }
        return change.kind.name, ids

    @property
    def target_api(self) -> str | None:
        """The API the record failed in (``Api``) or, when it failed before a call, the one its kind is written
        with; None when the body names no kind."""
        if self.api:
            return self.api
        kind, _ = self.record()
        return KIND_SPECS[kind].api if kind else None

    def forwarded_attributes(self) -> dict[str, MessageAttributeValueTypeDef]:
        """The attributes a copy carries: upstream's own, without the failure's, and the original's id in
        ``PersonalizeIngest.SourceMessageId`` (``source_message_id``, else this message's own id).

        A message the redrive policy moved keeps its message id, the original's (SQS keeps it), so the copy names
        that. Two copies of one dead letter (after a crash between copy and delete) then carry the same id, from
        which the Lambda derives the same missing eventId. A ``SourceMessageId`` is forwarded like any attribute:
        the Lambda does not read it.
        """
        forwarded: dict[str, MessageAttributeValueTypeDef] = {}
        for name, value in self.attributes.items():
            if name in FAILURE_ATTRIBUTES:
                continue
            copy: MessageAttributeValueTypeDef = {"DataType": str(value["DataType"])}
            if "StringValue" in value:
                copy["StringValue"] = str(value["StringValue"])
            if "BinaryValue" in value:
                copy["BinaryValue"] = value["BinaryValue"]
            forwarded[name] = copy
        forwarded[ORIGIN_MESSAGE_ID_ATTRIBUTE] = {
            "DataType": "String",
            "StringValue": self.source_message_id or self.message_id,
        }
        return forwarded

    def size(self) -> int:
        """Bytes this message's copy counts towards a SendMessageBatch (body, attribute names, types and values)."""
        return len(self.body.encode()) + sum(
            len(name.encode()) + len(value["DataType"].encode()) + len(_value_bytes(value))
            for name, value in self.forwarded_attributes().items()
        )


def _value_bytes(value: MessageAttributeValueTypeDef) -> bytes:
    if "StringValue" in value:
        return value["StringValue"].encode()
    binary = value.get("BinaryValue", b"")
    return binary if isinstance(binary, bytes) else str(binary).encode()
