"""Publish changes to the ingest queue: check them against the message contract, batch, retry, report.

For upstream teams (docs/contracts.md §1). Each change is validated against
``schemas/contract/message.schema.json`` before anything is sent; valid changes go out with SendMessageBatch,
at most 10 entries and 256 KiB per call; entries SQS reports as failed on its side are retried with backoff a
bounded number of times; on a FIFO queue every message gets a group id (its record, or its session) and a
deduplication id (see ``deduplication_id``). Whatever could not be sent is reported with the reason, never
dropped silently.

As a library::

    from tools.publisher import Publisher

    report = Publisher(queue_url).publish(changes)  # changes: an iterable of dicts
    for unsent in report.unsent:
        print(unsent.index, unsent.problem, unsent.reason)

From the command line, one JSON change per line, from a file or stdin (``make install`` puts the ``publish``
command in the virtualenv; ``python -m tools.publisher`` is the same program)::

    publish --queue-url URL changes.jsonl
    producer | publish --queue-url URL -

The exit status is 0 when every change was sent and 1 otherwise; the summary and one line per unsent change
go to stderr.

Every item, action or user change goes out with a ``changedAt`` (epoch milliseconds), the time it was published
unless the change has one already: on a standard queue it is what orders two changes to one record
(docs/contracts.md §1). The publisher sets no message attribute: ``PersonalizeIngest.SourceMessageId`` is the
pipeline's own (docs/contracts.md §3).
"""

from __future__ import annotations

import argparse
import enum
import hashlib
import json
import random
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import boto3
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

__all__ = [
    "CHANGED_AT",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_ENTRIES",
    "SCHEMA_PATH",
    "Problem",
    "PublishReport",
    "Publisher",
    "Unsent",
    "canonical_body",
    "contract_violation",
    "deduplication_id",
    "group_id",
    "main",
]

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "contract" / "message.schema.json"

# SendMessageBatch takes at most 10 entries.
MAX_BATCH_ENTRIES = 10
# 256 KiB per message and per batch (body + message attributes): what every queue accepts. AWS raised the
# service-wide limit to 1 MiB in 2025, but a queue's MaximumMessageSize may still be lower, so this stays the
# default; pass max_batch_bytes to use more.
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html
MAX_BATCH_BYTES = 262_144
DEFAULT_MAX_ATTEMPTS = 5

# The kinds whose records are upserts: a later change to the same id replaces an earlier one entirely.
_UPSERT_ID_FIELDS = {"item": "itemId", "action": "actionId", "user": "userId"}
# docs/contracts.md §1: when an upsert was made, which orders two changes to one record on a standard queue.
CHANGED_AT = "changedAt"
# MessageGroupId: 1..128 characters, alphanumerics and punctuation (ASCII 0x21..0x7E).
_GROUP_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
# Characters SQS accepts in a message body; anything else fails the entry with InvalidMessageContents.
_SQS_FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Half of a UTF-16 surrogate pair: json.loads accepts its escape (\\ud800) but it is not text (see contract_violation).
_SURROGATE = re.compile("[\ud800-\udfff]")
_LONE_SURROGATE_RULE = "message: holds an unpaired UTF-16 surrogate (\\ud800-\\udfff), which is not text"
# Call-level error codes worth retrying besides 5xx and HTTP 429 (botocore has already retried them a few
# times by the time they reach us; a backlog or a KMS hiccup can outlast that).
_RETRYABLE_CODES = frozenset(
    {
        "RequestThrottled",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "KmsThrottled",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
    }
)


class Problem(enum.StrEnum):
    """Why a change was not sent."""

    INVALID = "Invalid"  # not a valid change (the message contract, or not JSON): fix the change
    TOO_LARGE = "TooLarge"  # its body alone is over the batch byte limit
    REJECTED = "Rejected"  # SQS refused it (SenderFault, or a call error retrying cannot fix)
    RETRIES_EXHAUSTED = "RetriesExhausted"  # SQS failed on its side on every attempt
    ABORTED = "Aborted"  # not attempted: an earlier call failed in a way that would fail this one too


@dataclass(frozen=True, slots=True)
class Unsent:
    """A change that was not sent.

    Attributes
    ----------
    index:
        Its 0-based position in the changes given to ``publish`` (the CLI reports 1-based line numbers).
    change:
        The change as given.
    problem:
        The category of the failure.
    reason:
        What went wrong: the field and the rule, or SQS's error code and message. Never a field's value.
    """

    index: int
    change: Any
    problem: Problem
    reason: str


@dataclass(slots=True)
class PublishReport:
    """What ``Publisher.publish`` did.

    Attributes
    ----------
    sent:
        Changes SQS accepted.
    superseded:
        FIFO only: changes not resent after a failure because a later change to the same record (same item,
        action or user) was accepted in the same call; sending the older one after it would undo it.
    unsent:
        Changes that were not sent, with the reason, in input order.
    calls:
        SendMessageBatch calls made (retries included).
    retries:
        Entries sent again after a failure.
    """

    sent: int = 0
    superseded: int = 0
    unsent: list[Unsent] = field(default_factory=list)
    calls: int = 0
    retries: int = 0

    @property
    def ok(self) -> bool:
        """True when every change was sent (or superseded by a newer one that was)."""
        return not self.unsent

    @property
    def total(self) -> int:
        """The number of changes given."""
        return self.sent + self.superseded + len(self.unsent)


@dataclass(frozen=True, slots=True)
class _Entry:
    index: int
    change: Any
    body: str
    size: int
    group_id: str | None
    deduplication_id: str | None
    upsert: bool

    @property
    def entry_id(self) -> str:
        # Batch entry ids must be unique within a call and match [A-Za-z0-9_-]{1,80}: the input position is.
        return str(self.index)


@dataclass(frozen=True, slots=True)
class _Failure:
    code: str
    message: str
    retryable: bool

    @property
    def reason(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


class Publisher:
    """Sends changes to one ingest queue.

    Parameters
    ----------
    queue_url:
        The ingest queue's URL. A URL ending in ``.fifo`` is a FIFO queue.
    sqs_client:
        A boto3 SQS client; by default one is built plainly (so ``AWS_ENDPOINT_URL_SQS`` and the usual
        credential and region settings apply), with the region taken from the queue URL when it names one.
    fifo:
        Whether to set MessageGroupId and MessageDeduplicationId; by default, whether the URL ends in ``.fifo``.
    max_attempts:
        Attempts per entry, the first included, before a failure SQS reports as its own is given up on.
    base_delay_s, max_delay_s:
        Backoff before attempt ``n`` is a random delay up to ``min(max_delay_s, base_delay_s * 2 ** (n - 2))``
        (full jitter: publishers that failed together do not retry together).
    max_batch_bytes:
        The byte limit of one message and of one batch.
    sleep, rng:
        The clock and the jitter source (tests pass their own).
    clock:
        The wall clock ``changedAt`` is read from, in epoch seconds.

    Notes
    -----
    Ordering on a FIFO queue: batches go out one after another, each with its retries done before the next, so
    a later batch never overtakes an earlier one. Within one call SQS may accept a later entry of a group and
    fail an earlier one, which can then only go after it. For items, actions and users the older change is
    dropped as superseded (the newer one replaces the whole record anyway); events and action interactions are
    resent, which is harmless: each carries its own timestamp.
    """

    def __init__(
        self,
        queue_url: str,
        *,
        sqs_client: SQSClient | None = None,
        fifo: bool | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        base_delay_s: float = 0.1,
        max_delay_s: float = 5.0,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.queue_url = queue_url
        self.fifo = queue_url.endswith(".fifo") if fifo is None else fifo
        self._client = sqs_client if sqs_client is not None else _default_client(queue_url)
        self._max_attempts = max_attempts
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s
        self._max_batch_bytes = max_batch_bytes
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._clock = clock
        self._last_changed_at = 0
        self._aborted: _Failure | None = None

    def publish(self, changes: Iterable[Any]) -> PublishReport:
        """Validate and send ``changes`` (JSON objects, i.e. dicts), in order; report what happened to each.

        Changes are read lazily and sent as batches fill, so a long stream is never held in memory. A batch
        ends at 10 entries or when the next body would take it over ``max_batch_bytes``; changes are never
        reordered, so a FIFO queue receives them in the order given.
        """
        report = PublishReport()
        self._aborted = None
        batch: list[_Entry] = []
        batch_bytes = 0
        for index, change in enumerate(changes):
            entry = self._prepare(index, change)
            if isinstance(entry, Unsent):
                report.unsent.append(entry)
                continue
            if len(batch) == MAX_BATCH_ENTRIES or batch_bytes + entry.size > self._max_batch_bytes:
                self._send(batch, report)
                batch, batch_bytes = [], 0
            batch.append(entry)
            batch_bytes += entry.size
        if batch:
            self._send(batch, report)
        report.unsent.sort(key=lambda unsent: unsent.index)
        return report

    def _prepare(self, index: int, change: Any) -> _Entry | Unsent:
        violation = contract_violation(change)
        if violation is not None:
            return Unsent(index, change, Problem.INVALID, violation)
        try:
            body = canonical_body(self._stamped(change))
        except (TypeError, ValueError) as exc:
            # NaN and Infinity are not JSON; objects json cannot encode (datetime, Decimal) are not either.
            return Unsent(index, change, Problem.INVALID, f"not serialisable as JSON: {exc}")
        size = len(body.encode("utf-8"))  # we send no message attributes: the body is the whole message
        if size > self._max_batch_bytes:
            return Unsent(
                index, change, Problem.TOO_LARGE, f"{size} bytes, the limit is {self._max_batch_bytes} per message"
            )
        return _Entry(
            index=index,
            change=change,
            body=body,
            size=size,
            group_id=group_id(change) if self.fifo else None,
            deduplication_id=deduplication_id(body, upsert=change["type"] in _UPSERT_ID_FIELDS) if self.fifo else None,
            upsert=change["type"] in _UPSERT_ID_FIELDS,
        )

    def _stamped(self, change: dict[str, Any]) -> dict[str, Any]:
        """``change`` with a ``changedAt`` when it is an upsert without one: the time now, in epoch milliseconds.

        Strictly increasing within one publisher, so two changes to one record published in the same millisecond
        are still ordered as given (a burst of more than 1,000 changes a second runs that many milliseconds ahead of
        the clock, no more). Events and action interactions are left as they are: each carries its own time, and
        their FIFO deduplication id is the digest of their body, which a publishing time would make unique.
        """
        if change["type"] not in _UPSERT_ID_FIELDS or change.get(CHANGED_AT) is not None:
            return change
        self._last_changed_at = max(int(self._clock() * 1_000), self._last_changed_at + 1)
        return {**change, CHANGED_AT: self._last_changed_at}

    def _send(self, batch: Sequence[_Entry], report: PublishReport) -> None:
        """Send one batch; retry the entries SQS failed on its side; record every outcome in ``report``."""
        pending = list(batch)
        failures: dict[str, _Failure] = {}
        for attempt in range(1, self._max_attempts + 1):
            if self._aborted is not None:
                break
            if attempt > 1:
                report.retries += len(pending)
                self._sleep(self._backoff(attempt))
            failures = self._call(pending, report)
            pending = _settle(pending, failures, report)
            if not pending:
                return
        for entry in pending:
            if entry.entry_id in failures:
                failure = failures[entry.entry_id]
                problem = Problem.RETRIES_EXHAUSTED if failure.retryable else Problem.REJECTED
                report.unsent.append(Unsent(entry.index, entry.change, problem, failure.reason))
            else:
                reason = f"not attempted after {self._aborted.reason}" if self._aborted else "not attempted"
                report.unsent.append(Unsent(entry.index, entry.change, Problem.ABORTED, reason))

    def _call(self, entries: Sequence[_Entry], report: PublishReport) -> dict[str, _Failure]:
        """One SendMessageBatch call; the failed entries by entry id (a failed call fails them all)."""
        request: list[SendMessageBatchRequestEntryTypeDef] = []
        for entry in entries:
            item: SendMessageBatchRequestEntryTypeDef = {"Id": entry.entry_id, "MessageBody": entry.body}
            if entry.group_id is not None:
                item["MessageGroupId"] = entry.group_id
            if entry.deduplication_id is not None:
                item["MessageDeduplicationId"] = entry.deduplication_id
            request.append(item)
        report.calls += 1
        try:
            response = self._client.send_message_batch(QueueUrl=self.queue_url, Entries=request)
        except ClientError as exc:
            failure = _call_failure(exc)
            if not failure.retryable:
                # QueueDoesNotExist, AccessDenied, a bad KMS key...: every later call would fail the same way.
                self._aborted = failure
            return {entry.entry_id: failure for entry in entries}
        except (ConnectionError, HTTPClientError) as exc:
            # The call may or may not have reached SQS. Resending is safe: FIFO deduplicates by id, and a
            # standard queue delivers at least once anyway.
            failure = _Failure(type(exc).__name__, str(exc), retryable=True)
            return {entry.entry_id: failure for entry in entries}
        failed = {
            error["Id"]: _Failure(error["Code"], error.get("Message", ""), retryable=not error["SenderFault"])
            for error in response.get("Failed", [])
        }
        answered = set(failed) | {success["Id"] for success in response.get("Successful", [])}
        for entry in entries:
            if entry.entry_id not in answered:
                # Not in the response at all: never seen in practice, but unaccounted is not "sent".
                failed[entry.entry_id] = _Failure("NoResult", "SQS did not report this entry", retryable=True)
        return failed

    def _backoff(self, attempt: int) -> float:
        return self._rng.uniform(0.0, min(self._max_delay_s, self._base_delay_s * 2 ** (attempt - 2)))


def _settle(pending: Sequence[_Entry], failures: dict[str, _Failure], report: PublishReport) -> list[_Entry]:
    """Record the outcome of one call's entries in ``report``; return those to retry, in their order."""
    retry: list[_Entry] = []
    # Walking backwards, each failed entry knows which upsert groups had a later entry accepted in this call.
    accepted_later: set[str] = set()
    for entry in reversed(pending):
        failure = failures.get(entry.entry_id)
        if failure is None:
            report.sent += 1
            if entry.upsert and entry.group_id is not None:
                accepted_later.add(entry.group_id)
        elif not failure.retryable:
            report.unsent.append(Unsent(entry.index, entry.change, Problem.REJECTED, failure.reason))
        elif entry.upsert and entry.group_id in accepted_later:
            # FIFO: the newer version of this record is already in the queue. Resending the older one now would
            # queue it after the newer one, and the handler would apply it last: an upsert replaces, so skip it.
            report.superseded += 1
        else:
            retry.append(entry)
    return retry[::-1]


def _call_failure(exc: ClientError) -> _Failure:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    retryable = code in _RETRYABLE_CODES or status == 429 or status >= 500
    return _Failure(code, str(error.get("Message", "")), retryable=retryable)


def _default_client(queue_url: str) -> SQSClient:
    # https://sqs.<region>.amazonaws.com/<account>/<name>: the URL says where the queue is.
    match = re.match(r"^https://sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/", queue_url)
    return boto3.client("sqs", region_name=match.group(1) if match else None)


@cache
def _validators() -> tuple[Draft202012Validator, dict[str, Draft202012Validator]]:
    """The contract's validator, and one per kind (for error messages that name the right fields)."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    kinds = {
        kind: Draft202012Validator({"$defs": schema["$defs"], "$ref": f"#/$defs/{kind}"})
        for kind in schema["properties"]["type"]["enum"]
    }
    return Draft202012Validator(schema), kinds


def contract_violation(change: Any) -> str | None:
    """Check one change against the message contract (``schemas/contract/message.schema.json``).

    Returns
    -------
    str or None
        None when the change is valid; otherwise the first problem, naming the field and the rule (never the
        field's value: it may be personal data).
    """
    contract, kinds = _validators()
    if contract.is_valid(change):
        # The one rule of the contract JSON Schema cannot express: every string is text. The pipeline dead-letters
        # a change holding half of a UTF-16 surrogate pair (ingest.decode), so it is refused here already.
        try:
            text = json.dumps(change, ensure_ascii=False)
        except (TypeError, ValueError):
            return None  # not JSON at all: reported by _prepare with json's own reason
        return _LONE_SURROGATE_RULE if _SURROGATE.search(text) else None
    if not isinstance(change, dict):
        return "message: must be a JSON object"
    kind = change.get("type")
    if not isinstance(kind, str) or kind not in kinds:
        rule = "must be one of" if "type" in change else "required, one of"
        return f"type: {rule} {', '.join(kinds)}"
    error = best_match(kinds[kind].iter_errors(change))
    if error is None:
        return "message: does not fit the contract"
    # best_match descends into anyOf branches; a branch's type or pattern miss says less than the field's title.
    while (
        error.parent is not None
        and error.parent.validator in {"anyOf", "oneOf"}
        and error.validator
        in {
            "type",
            "pattern",
        }
    ):
        error = error.parent
    return _describe(error)


def _describe(error: ValidationError) -> str:
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path)
    return f"{where.lstrip('.') or 'message'}: {_rule(error)}"


def _rule(error: ValidationError) -> str:
    """The rule ``error`` broke, in words; never the instance (it may be personal data)."""
    limit = error.validator_value
    title = error.schema.get("title") if isinstance(error.schema, dict) else None
    match error.validator:
        case "minLength":
            return f"must have at least {limit} character(s)"
        case "maxLength":
            return f"must have at most {limit} characters"
        case "minItems":
            return f"must hold at least {limit} entr{'y' if limit == 1 else 'ies'}"
        case "maxItems":
            return f"must hold at most {limit} entries"
        case "minimum":
            return f"must be at least {limit}"
        case "maximum":
            return f"must be at most {limit}"
        case "type":
            return "must be " + (" or ".join(map(str, limit)) if isinstance(limit, list) else str(limit))
        case "pattern" | "anyOf" | "oneOf" | "not":
            # jsonschema's own message for these quotes the instance, which may be personal data.
            return f"must be {title}" if title else "is not in an accepted form"
        case _:
            # required, additionalProperties, const, enum: jsonschema's message names keys or expected values.
            return error.message


def canonical_body(change: Any) -> str:
    """The message body for ``change``: compact JSON with sorted keys, so equal changes have equal bodies.

    Non-ASCII text stays as it is (a third of the size of ``\\u`` escapes for many scripts), unless the text
    holds a character SQS refuses in a body (a lone surrogate, U+FFFE, U+FFFF): then everything non-ASCII is
    escaped, which is the same JSON.
    """
    text = json.dumps(change, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False)
    if _SQS_FORBIDDEN.search(text):
        text = json.dumps(change, ensure_ascii=True, separators=(",", ":"), sort_keys=True, allow_nan=False)
    return text


def deduplication_id(body: str, *, upsert: bool = False) -> str:
    """The FIFO MessageDeduplicationId of one change, chosen once per change and kept across its retries.

    Events and action interactions: the SHA-256 of the body (hex, 64 characters). An identical event sent twice
    within SQS's five-minute deduplication window is the same event, and SQS drops the copy. (The handler derives
    a missing eventId from the SQS message id, not from this id: the deduplication id does not survive a trip
    through the dead-letter queue; docs/contracts.md §1.)

    Items, actions and users (``upsert``): a random id. Their bodies are states, not occurrences: a change that
    goes back to an earlier state (price 10 → 12 → 10) has the body of the first one, and content-based
    deduplication would drop it and leave the record at 12. The publisher sends a retried entry with the id it
    was given first, so a retry after a lost response is still deduplicated.
    """
    if upsert:
        return uuid.uuid4().hex
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def group_id(change: dict[str, Any]) -> str:
    """The FIFO MessageGroupId of a valid change.

    Items, actions and users: ``<type>#<id>`` (``item#sku-1``), so changes to one record stay in order and
    different records are consumed in parallel. Events and action interactions: the ``sessionId``, so a
    session's interactions stay in order. An id SQS would refuse as a group id (longer than 128 characters
    with the prefix, or characters other than printable ASCII) is replaced by ``sha256:<hex of the id>``: the
    same id still lands in the same group.
    """
    kind = str(change["type"])
    id_field = _UPSERT_ID_FIELDS.get(kind)
    prefix, value = (f"{kind}#", str(change[id_field])) if id_field else ("", str(change["sessionId"]))
    candidate = prefix + value
    if _GROUP_ID.match(candidate):
        return candidate
    return f"{prefix}sha256:{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()}"


# --- command line -------------------------------------------------------------------------------------------


def _read_lines(stream: BinaryIO, line_numbers: list[int], not_json: list[Unsent]) -> Iterator[Any]:
    """Yield each non-blank line's JSON value; remember its line number, or why it is not JSON.

    Lines are decoded one by one, so one line that is not UTF-8 is reported instead of ending the run with
    the changes before it sent and the ones after it never read.
    """
    for number, raw in enumerate(stream, start=1):
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            not_json.append(Unsent(number, raw.decode("utf-8", "replace").strip(), Problem.INVALID, "not UTF-8"))
            continue
        if not text:
            continue
        try:
            value = json.loads(text)
        except ValueError as exc:
            not_json.append(Unsent(number, text, Problem.INVALID, f"not JSON: {getattr(exc, 'msg', exc)}"))
            continue
        line_numbers.append(number)
        yield value


def _parser() -> argparse.ArgumentParser:
    # The usage line names the program as it was started: the installed command, or the module.
    command = "publish" if Path(sys.argv[0]).name == "publish" else "python -m tools.publisher"
    parser = argparse.ArgumentParser(
        prog=command,
        description=(
            "Send changes (one JSON object per line) to the ingest queue. Each is checked against "
            "schemas/contract/message.schema.json first; invalid ones are reported, not sent. Exits 1 if any "
            "change could not be sent. AWS_ENDPOINT_URL_SQS points it at a local SQS."
        ),
    )
    parser.add_argument("--queue-url", required=True, help="the ingest queue's URL (a .fifo URL is a FIFO queue)")
    parser.add_argument("--region", help="the queue's region (default: from the URL, else the AWS configuration)")
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=DEFAULT_MAX_ATTEMPTS,
        help=f"attempts per change when SQS fails on its side (default {DEFAULT_MAX_ATTEMPTS})",
    )
    parser.add_argument(
        "--unsent",
        type=Path,
        help="write the changes that were not sent to this file, one JSON per line (created even when empty)",
    )
    parser.add_argument("file", nargs="?", default="-", help="JSON lines to send; '-' (default) reads stdin")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0: everything sent, 1: something was not, 2: usage)."""
    args = _parser().parse_args(argv)
    if args.max_attempts < 1:
        print("publisher: --max-attempts must be at least 1", file=sys.stderr)
        return 2
    client = boto3.client("sqs", region_name=args.region) if args.region else None
    publisher = Publisher(args.queue_url, sqs_client=client, max_attempts=args.max_attempts)
    line_numbers: list[int] = []
    not_json: list[Unsent] = []
    try:
        stream = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        print(f"publisher: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        report = publisher.publish(_read_lines(stream, line_numbers, not_json))
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    # Report line numbers, not positions among the parsed lines: that is what the person at the terminal has.
    unsent = sorted(
        [*not_json, *(_at_line(item, line_numbers[item.index]) for item in report.unsent)],
        key=lambda item: item.index,
    )
    changes = report.total + len(not_json)
    summary = f"publisher: {report.sent} of {changes} change(s) sent"
    details = [f"{report.calls} call(s)", f"{report.retries} retried"]
    if report.superseded:
        details.append(f"{report.superseded} superseded by a newer change to the same record")
    print(f"{summary}, {len(unsent)} not sent ({', '.join(details)})", file=sys.stderr)
    for item in unsent:
        print(f"line {item.index}: {item.problem}: {item.reason}", file=sys.stderr)
    if args.unsent is not None:
        raw_lines = {item.index for item in not_json}
        with open(args.unsent, "w", encoding="utf-8") as out:
            for item in unsent:
                # A line that is not JSON is written back as it was, for someone to repair by hand.
                out.write((item.change if item.index in raw_lines else json.dumps(item.change)) + "\n")
    return 1 if unsent else 0


def _at_line(unsent: Unsent, line: int) -> Unsent:
    return Unsent(line, unsent.change, unsent.problem, unsent.reason)


if __name__ == "__main__":
    sys.exit(main())
