"""Error codes, the one exception root, and the single table that classifies service errors.

Everything the pipeline decides about a failure is written down here once: which dead-letter code a record gets
(DESIGN.md Contract 3) and whether a failed call is poison, retryable or a setup error (DESIGN.md step 4).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker


class ErrorCode(enum.StrEnum):
    """Dead-letter codes (DESIGN.md Contract 3). The values are the wire values of the ``ErrorCode`` attribute."""

    MALFORMED_MESSAGE = "MalformedMessage"
    SCHEMA_VIOLATION = "SchemaViolation"
    DATASET_NOT_CONFIGURED = "DatasetNotConfigured"
    INVALID_INPUT = "InvalidInput"
    RETRIES_EXHAUSTED = "RetriesExhausted"


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
    """The Lambda environment (DESIGN.md Contract 2) is invalid: fails the whole invocation, so nothing is lost."""


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
    """A classified failure of one Personalize call, with the evidence to report it."""

    disposition: Disposition
    error_code: str
    message: str


def classify(exc: Exception) -> CallFailure:
    """Classify an exception raised by a Personalize or SQS client call.

    Any other exception is treated as retryable, so one unexpected failure can never crash the handler.
    Throttling is recognised with botocore's own list of throttling codes (Personalize does not document its
    throttling error, PERSONALIZE.md §1), plus HTTP 429; HTTP 5xx and connection errors are retryable.
    """
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
        return CallFailure(Disposition.RETRYABLE, type(exc).__name__, str(exc))
    # Anything else is unexpected (a bug of ours, or botocore refusing a parameter). Retrying is the safe
    # answer: the record keeps its place in the queue and reaches the DLQ as RetriesExhausted with this reason.
    return CallFailure(Disposition.RETRYABLE, type(exc).__name__, str(exc))
