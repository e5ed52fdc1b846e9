"""The one classification table: poison, retryable, throttled, setup."""

from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

from ingest.errors import Disposition, classify
from tests.support.fakes import client_error


@pytest.mark.parametrize(
    ("error", "disposition"),
    [
        (client_error("InvalidInputException", 400), Disposition.POISON),
        (client_error("ResourceNotFoundException", 404), Disposition.SETUP),
        (client_error("AccessDeniedException", 403), Disposition.SETUP),
        (client_error("SomethingForbidden", 403), Disposition.SETUP),
        (client_error("ResourceInUseException", 409), Disposition.RETRYABLE),
        (client_error("ThrottlingException", 400), Disposition.THROTTLED),
        (client_error("TooManyRequestsException", 400), Disposition.THROTTLED),
        (client_error("LimitExceededException", 400), Disposition.THROTTLED),
        (client_error("Whatever", 429), Disposition.THROTTLED),
        (client_error("InternalFailure", 500), Disposition.RETRYABLE),
        (client_error("ServiceUnavailable", 503), Disposition.RETRYABLE),
        (client_error("NeverHeardOfIt", 400), Disposition.RETRYABLE),
        (EndpointConnectionError(endpoint_url="https://personalize-events"), Disposition.RETRYABLE),
        (ReadTimeoutError(endpoint_url="https://personalize-events"), Disposition.RETRYABLE),
        (RuntimeError("bug"), Disposition.RETRYABLE),
    ],
)
def test_classify_error_gets_its_disposition(error: Exception, disposition: Disposition) -> None:
    assert classify(error).disposition is disposition


def test_classify_keeps_code_and_service_message() -> None:
    failure = classify(client_error("InvalidInputException", 400, "items[2] is invalid"))

    assert (failure.error_code, failure.message) == ("InvalidInputException", "items[2] is invalid")
