"""Error codes, the one exception root, and the single table that classifies service errors.

Everything the pipeline decides about a failure is written down here once: which dead-letter code a record gets
(docs/contracts.md §3) and whether a failed call is poison, retryable or a setup error (docs/design.md "The ingest
algorithm", step 4).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, ParamValidationError
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

# The dead-letter codes are the contract's (docs/contracts.md §3); re-exported so ``from ingest.errors import
# ErrorCode`` keeps working.
from contract import ErrorCode

__all__ = [
    "OUT_OF_TIME",
    "CallFailure",
    "ConfigurationError",
    "Disposition",
    "ErrorCode",
    "IngestError",
    "OutOfTime",
    "RejectedRecord",
    "classify",
    "tracking_id_refused",
    "unexpected",
]


class IngestError(Exception):
    """Root of every exception this package raises."""


class RejectedRecord(IngestError):
    """A record that can never succeed as it is: it belongs in the dead-letter queue with ``code``.

    The message must name fields, limits and lengths only, never property values: it is logged.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ConfigurationError(IngestError):
    """The Lambda environment (docs/contracts.md §2) is invalid: fails the whole invocation, so nothing is lost."""


class OutOfTime(IngestError):
    """No call was started: it could not have finished in the time the invocation has left for it."""


class Disposition(enum.Enum):
    """What a failed Personalize call means for the records in it."""

    POISON = "poison"  # this call can never succeed as it is: bisect to find the bad record(s)
    RETRYABLE = "retryable"  # may succeed later: back off, retry, then let SQS redeliver
    THROTTLED = "throttled"  # retryable, and counted separately: the quota is the usual bottleneck
    SETUP = "setup"  # the dataset is gone or the policy is wrong: retry (SQS redelivers), count, alarm; never DLQ


# The classification table. Codes not listed fall through to status-based rules in ``classify``.
# Unknown client errors are treated as retryable: they end in the DLQ as RetriesExhausted with the service's
# message after maxReceiveCount deliveries, which loses nothing and keeps the reason.
_BY_CODE: dict[str, Disposition] = {
    "InvalidInputException": Disposition.POISON,
    "ResourceNotFoundException": Disposition.SETUP,
    "AccessDeniedException": Disposition.SETUP,
    "AccessDenied": Disposition.SETUP,
    "UnrecognizedClientException": Disposition.SETUP,
    "InvalidSignatureException": Disposition.SETUP,
    # ResourceInUse: the dataset is being created or updated; it settles by itself.
    "ResourceInUseException": Disposition.RETRYABLE,
}

_THROTTLE_CHECKER = ThrottledRetryableChecker()


@dataclass(frozen=True, slots=True)
class CallFailure:
    """A classified failure of one Personalize call, with the evidence to report it.

    ``message`` ends up in logs and in the dead letter's ErrorMessage: it is the service's own message
    (docs/contracts.md §3), or words of ours that name fields and rules, never a record's values.
    ``before_sending`` marks a request the SDK refused on the client side (the record does not fit the API's
    model): that record is MalformedMessage.
    """

    disposition: Disposition
    error_code: str
    message: str
    before_sending: bool = False

    @property
    def dead_letter_code(self) -> ErrorCode:
        """The code a record that fails alone like this is dead-lettered with (docs/contracts.md §3)."""
        return ErrorCode.MALFORMED_MESSAGE if self.before_sending else ErrorCode.INVALID_INPUT


OUT_OF_TIME = CallFailure(Disposition.RETRYABLE, "OutOfTime", "the invocation ran out of time before this call")

# botocore's ParamValidationError report, one problem per line, quotes the offending value after ", value:" and
# lists the allowed members after ", must be one of": only the part before either is kept (field and rule).
_REPORT_TAIL = re.compile(r", (value:|must be one of).*$")


def classify(exc: Exception) -> CallFailure:
    """Classify an exception raised by a Personalize or SQS client call.

    Any other exception is treated as retryable, so one unexpected failure can never crash the handler.
    Throttling is recognised with botocore's own list of throttling codes (Personalize does not document its
    throttling error, docs/personalize.md §1), plus HTTP 429; HTTP 5xx and connection errors are retryable. A request
    botocore refuses to send (ParamValidationError, a string it cannot encode) will never be sent as it is: it is
    poison, and bisection finds the record that makes it so.
    """
    if isinstance(exc, OutOfTime):
        return OUT_OF_TIME
    if isinstance(exc, ParamValidationError):
        report = str(exc.kwargs.get("report", ""))
        problems = [_REPORT_TAIL.sub("", line).strip() for line in report.splitlines() if line.strip()]
        reason = "; ".join(problems) or "the request does not fit the API's model"
        return CallFailure(Disposition.POISON, "ParamValidationError", f"refused by the SDK: {reason}", True)
    if isinstance(exc, UnicodeError):
        # Its text quotes the character it choked on: name the class and the rule only.
        return CallFailure(Disposition.POISON, type(exc).__name__, "a value is not encodable as UTF-8", True)
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if code in _BY_CODE:
            return CallFailure(_BY_CODE[code], code, message)
        context = RetryContext(attempt_number=1, parsed_response=dict(exc.response), caught_exception=exc)
        if status == 429 or _THROTTLE_CHECKER.is_retryable(context):
            return CallFailure(Disposition.THROTTLED, code, message)
        if status == 403:
            return CallFailure(Disposition.SETUP, code, message)
        return CallFailure(Disposition.RETRYABLE, code, message)
    if isinstance(exc, ConnectionError | HTTPClientError):
        # Their text names the endpoint and the socket error, nothing of the request.
        return CallFailure(Disposition.RETRYABLE, type(exc).__name__, str(exc))
    return unexpected(exc)


def unexpected(exc: BaseException) -> CallFailure:
    """An exception nothing foresaw (a bug of ours, most likely): retryable, and reported by its class only.

    Retrying is the safe answer: the record keeps its place in the queue and reaches the DLQ as RetriesExhausted
    after maxReceiveCount deliveries. Its text is not kept: ``KeyError('Jane Doe')`` quotes what it failed on, and
    the reason goes to logs and the dead letter's ErrorMessage.
    """
    name = type(exc).__name__
    return CallFailure(Disposition.RETRYABLE, name, f"unexpected {name} (the function's log has it by message id)")


# A wrong or stale tracking id hides behind InvalidInputException: PutEvents models no other error (docs/personalize.md
# §1), so every call answers "invalid input" and bisection would dead-letter every event as InvalidInput, when
# docs/design.md says a setup error is retried, counted and alarmed, never dead-lettered. (PutActionInteractions
# answers ResourceNotFoundException, a setup error by its code alone.) AWS does not document its message for an
# unknown trackingId (ASSUMPTION, unverified against the service): we take it to name the tracking id it refused,
# as the local emulator does ("No event tracker has trackingId <id>.", local/emulator/events.py).
#
# The rule reads the error's code and structure, never words of its free text: a message about a record may quote the
# record, and an eventId or a property value can hold any words ("trackingId" included), so a word search would let
# one poison event pass for a setup error and have the whole batch retried and its alarm raised. What it looks for
# is the configured tracking id itself, as a whole token: a value of ours, not of the record, that no publisher
# writes into an event by accident. The caller applies this only to a call of ONE record, where the rejection cannot
# be a neighbour's fault, and only to APIs that write through a tracking id.
# A value shorter than this could appear in any message by chance (tracking ids are UUIDs).
_MIN_TRACKING_ID_TO_MATCH = 8


def tracking_id_refused(failure: CallFailure, tracking_id: str) -> CallFailure | None:
    """``failure`` reclassified as a setup error when it is an InvalidInputException naming ``tracking_id``.

    Returns None when ``failure`` is anything else; see the assumption written down above.
    """
    if failure.error_code != "InvalidInputException" or failure.before_sending:
        return None
    if len(tracking_id) < _MIN_TRACKING_ID_TO_MATCH or not _names_token(failure.message, tracking_id):
        return None
    return CallFailure(Disposition.SETUP, failure.error_code, failure.message)


def _names_token(text: str, token: str) -> bool:
    """Whether ``token`` occurs in ``text`` as a whole token: not inside a longer id (letters, digits, "-", "_")."""
    pattern = rf"(?<![\w-]){re.escape(token)}(?![\w-])"
    return re.search(pattern, text) is not None
