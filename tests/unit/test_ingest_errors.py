"""The one classification table: poison, retryable, throttled, setup."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.exceptions import EndpointConnectionError, ParamValidationError, ReadTimeoutError
from botocore.validate import validate_parameters

from ingest.errors import Disposition, ErrorCode, classify, tracking_id_refused
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


def test_classify_sdk_refusal_is_poison_naming_fields_and_rules_not_values() -> None:
    # botocore's own report, from its own validator (what the client raises before sending)
    put_items = botocore.session.get_session().get_service_model("personalize-events").operation_model("PutItems")
    assert put_items.input_shape is not None
    with pytest.raises(ParamValidationError) as caught:
        validate_parameters(
            {"datasetArn": "arn", "items": [{"itemId": "", "properties": {"name": "Jane Doe"}, "extra": "Jane"}]},
            put_items.input_shape,
        )

    failure = classify(caught.value)

    assert failure.disposition is Disposition.POISON
    assert failure.dead_letter_code is ErrorCode.MALFORMED_MESSAGE
    assert "Invalid type for parameter items[0].properties" in failure.message
    assert 'Unknown parameter in items[0]: "extra"' in failure.message
    assert "Jane" not in failure.message


def test_classify_unencodable_text_is_poison_without_quoting_it() -> None:
    try:
        "sku-\ud800".encode()
    except UnicodeEncodeError as exc:
        failure = classify(exc)

    assert failure.disposition is Disposition.POISON
    assert "\ud800" not in failure.message


def test_classify_unexpected_exception_keeps_its_class_not_its_text() -> None:
    failure = classify(KeyError("Jane Doe"))

    assert (failure.disposition, failure.error_code) == (Disposition.RETRYABLE, "KeyError")
    assert "Jane" not in failure.message


def test_classify_service_rejection_is_dead_lettered_as_invalid_input() -> None:
    assert classify(client_error("InvalidInputException", 400)).dead_letter_code is ErrorCode.INVALID_INPUT


TRACKER = "9f0c6b1e-2f7d-4a51-8d9e-6c3e2b1a0f11"


@pytest.mark.parametrize(
    "message",
    [
        f"No event tracker has trackingId {TRACKER}.",  # the local emulator's answer
        f"Invalid value {TRACKER}",
        f"trackingId '{TRACKER}' is not valid",  # quoted: still a whole token
        f"The tracking ID ({TRACKER}) does not exist",
    ],
)
def test_tracking_id_refused_message_naming_the_tracker_is_a_setup_error(message: str) -> None:
    failure = classify(client_error("InvalidInputException", 400, message, "PutEvents"))

    refused = tracking_id_refused(failure, TRACKER)

    assert refused is not None
    assert refused.disposition is Disposition.SETUP


@pytest.mark.parametrize(
    ("code", "message", "tracker"),
    [
        ("InvalidInputException", "eventList[0].properties: Error parsing properties json", TRACKER),
        ("InvalidInputException", "Invalid eventType abc", "abc"),  # a short id matches nothing by chance
        ("ThrottlingException", f"No event tracker has trackingId {TRACKER}.", TRACKER),
        # The rule reads no words: a rejection about a record may quote the record, and an eventId or a property
        # value can say anything, "trackingId" included. Without the configured id it stays the record's fault.
        ("InvalidInputException", "trackingId is not valid", TRACKER),
        ("InvalidInputException", "The tracking ID does not exist", TRACKER),
        ("InvalidInputException", "eventList[0].eventId: event tracker trackingId-1 is not valid", TRACKER),
        # The configured id inside a longer id is some other value, not ours.
        ("InvalidInputException", f"Invalid eventId {TRACKER}-retry", TRACKER),
        ("InvalidInputException", f"Invalid itemId sku_{TRACKER}", TRACKER),
    ],
)
def test_tracking_id_refused_other_rejections_stay_what_they_are(code: str, message: str, tracker: str) -> None:
    assert tracking_id_refused(classify(client_error(code, 400, message, "PutEvents")), tracker) is None
