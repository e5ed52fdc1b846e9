"""The one error the custom resource handlers raise on purpose, and how to read botocore's errors."""

from __future__ import annotations

from typing import Final

from botocore.exceptions import ClientError

# Control-plane error codes (botocore's shape names; docs/personalize.md §3: every one is HTTP 400).
RESOURCE_NOT_FOUND: Final = "ResourceNotFoundException"
RESOURCE_IN_USE: Final = "ResourceInUseException"
RESOURCE_ALREADY_EXISTS: Final = "ResourceAlreadyExistsException"
# LimitExceeded means "too many requests" as well as "too many resources"; the polling side retries it on the
# next poll, the create side reports it (a quota the user must raise or free).
LIMIT_EXCEEDED: Final = "LimitExceededException"
# What the polling side treats as "try again on the next poll" rather than a failure: botocore's standard retry
# mode has already retried these with backoff within the call, so they are a sustained rate limit or outage.
TRANSIENT_CODES: Final = frozenset(
    {
        LIMIT_EXCEEDED,
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
    }
)


class ProvisioningError(Exception):
    """A custom resource request that cannot succeed; the message becomes CloudFormation's status reason.

    The Provider framework reports an error raised by ``on_event`` or ``is_complete`` to CloudFormation as the
    reason of the failed resource, so every message names the resource and says what to do about it.
    """


def error_code(error: ClientError) -> str:
    """Return the service's error code of ``error`` (``ResourceNotFoundException``...)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def error_message(error: ClientError) -> str:
    """Return the service's message of ``error``, or its code when there is none."""
    details = error.response.get("Error", {})
    return str(details.get("Message") or details.get("Code") or error)


def is_transient(error: ClientError) -> bool:
    """Return whether ``error`` is a rate limit or a server fault worth another poll."""
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return error_code(error) in TRANSIENT_CODES or status >= 500
