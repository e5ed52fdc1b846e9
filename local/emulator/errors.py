"""The emulator's errors: one root, and the service errors it answers with over the wire."""

from __future__ import annotations

# Error codes, spelled as botocore expects them (the shape names of the service models, plus the codes AWS's
# front end uses for what the models leave out).
INVALID_INPUT = "InvalidInputException"
RESOURCE_NOT_FOUND = "ResourceNotFoundException"
RESOURCE_IN_USE = "ResourceInUseException"
RESOURCE_ALREADY_EXISTS = "ResourceAlreadyExistsException"
LIMIT_EXCEEDED = "LimitExceededException"
TOO_MANY_TAGS = "TooManyTagsException"
TOO_MANY_TAG_KEYS = "TooManyTagKeysException"
INVALID_NEXT_TOKEN = "InvalidNextTokenException"  # noqa: S105 (an error code, not a secret)
THROTTLING = "ThrottlingException"
INTERNAL_FAILURE = "InternalFailure"
SERVICE_UNAVAILABLE = "ServiceUnavailable"
UNKNOWN_OPERATION = "UnknownOperationException"
SERIALIZATION = "SerializationException"

# HTTP statuses of the rest-json `personalize-events` API: the modeled ones come from the model
# (InvalidInput 400, ResourceNotFound 404, ResourceInUse 409); throttling is 400 because botocore's legacy
# retry table (_retry.json, "throttling_exception") only matches ThrottlingException with status 400, and the
# standard and adaptive modes match the code alone.
EVENTS_STATUS: dict[str, int] = {
    INVALID_INPUT: 400,
    RESOURCE_NOT_FOUND: 404,
    RESOURCE_IN_USE: 409,
    THROTTLING: 400,
    INTERNAL_FAILURE: 500,
    SERVICE_UNAVAILABLE: 503,
    UNKNOWN_OPERATION: 404,
    SERIALIZATION: 400,
}

# The awsJson1.1 control plane answers every modeled error with 400 (Personalize API reference, "Errors");
# only the injected server faults differ.
CONTROL_STATUS: dict[str, int] = {INTERNAL_FAILURE: 500, SERVICE_UNAVAILABLE: 503}


class EmulatorError(Exception):
    """Root of every error the emulator raises."""


class ServiceError(EmulatorError):
    """An error the emulator answers a request with, as AWS would.

    Parameters
    ----------
    code : str
        The error code botocore reads (``InvalidInputException``, ...).
    message : str
        The human-readable message.
    status : int or None
        The HTTP status; ``None`` lets the protocol pick the service's usual status for ``code``.
    """

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    def events_status(self) -> int:
        """Return the HTTP status for the rest-json data plane."""
        return self.status or EVENTS_STATUS.get(self.code, 400)

    def control_status(self) -> int:
        """Return the HTTP status for the awsJson1.1 control plane."""
        return self.status or CONTROL_STATUS.get(self.code, 400)


def invalid_input(message: str) -> ServiceError:
    """Return an ``InvalidInputException``."""
    return ServiceError(INVALID_INPUT, message)


def not_found(message: str) -> ServiceError:
    """Return a ``ResourceNotFoundException``."""
    return ServiceError(RESOURCE_NOT_FOUND, message)


def in_use(message: str) -> ServiceError:
    """Return a ``ResourceInUseException``."""
    return ServiceError(RESOURCE_IN_USE, message)


def already_exists(message: str) -> ServiceError:
    """Return a ``ResourceAlreadyExistsException``."""
    return ServiceError(RESOURCE_ALREADY_EXISTS, message)


def limit_exceeded(message: str) -> ServiceError:
    """Return a ``LimitExceededException``."""
    return ServiceError(LIMIT_EXCEEDED, message)
