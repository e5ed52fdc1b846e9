"""Why SQS did not take an entry, and whether sending it again can help.

An entry fails on its own (SendMessageBatch's ``Failed`` list: ``SenderFault`` says whose fault it is) or with its
whole call (an error response, or no response at all). Only SQS's own faults, throttling and the network are
worth a retry; anything else would fail the same way again.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

__all__ = ["Failure", "call_failure"]

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


@dataclass(frozen=True, slots=True)
class Failure:
    """Why one entry was not taken: SQS's error code and message, and whether sending it again can help."""

    code: str
    message: str
    retryable: bool

    @property
    def reason(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


def call_failure(exc: ClientError) -> Failure:
    """The failure of every entry of a call SQS answered with an error response."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    retryable = code in _RETRYABLE_CODES or status == 429 or status >= 500
    return Failure(code, str(error.get("Message", "")), retryable=retryable)
