"""Step 1, decode: bodies → changes, envelopes unwrapped, malformed bodies rejected with MalformedMessage."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.decode import Message, decode, from_fifo_queue, lone_surrogate, may_hold_surrogate
from ingest.errors import ErrorCode, RejectedRecord
from tests.support.sqs_events import item, sqs_record


def message(body: object, **kwargs: object) -> Message:
    return Message.from_record(sqs_record(body if isinstance(body, str) else json.dumps(body), **kwargs), 0)  # type: ignore[arg-type]


def test_decode_item_message_returns_item_change_without_type() -> None:
    change = decode(message(item("sku-1", genres=["Horror"])))

    assert change.kind.name == "item"
    assert change.kind.api == "PutItems"
    assert change.fields == {"itemId": "sku-1", "properties": {"price": 9.99, "genres": ["Horror"]}}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('"just a string"', "JSON object"),
        ('{"itemId": "x"}', "type is missing"),
        ('{"type": "product", "itemId": "x"}', "type must be one of item, action, user, event, actionInteraction"),
        ('{"type": 7, "itemId": "x"}', "type must be one of"),
    ],
)
def test_decode_malformed_body_rejected_as_malformed_message(body: str, expected: str) -> None:
    with pytest.raises(RejectedRecord) as caught:
        decode(message(body))

    assert caught.value.code is ErrorCode.MALFORMED_MESSAGE
    assert expected in caught.value.message


def test_decode_sns_notification_unwraps_message() -> None:
    envelope = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:changes",
        "Message": json.dumps(item("sku-2")),
        "Timestamp": "2026-11-22T10:00:00.000Z",
    }

    change = decode(message(envelope))

    assert change.kind.name == "item"
    assert change.fields["itemId"] == "sku-2"


@pytest.mark.parametrize("detail_as_string", [False, True])
def test_decode_eventbridge_event_unwraps_detail(detail_as_string: bool) -> None:
    change_body = item("sku-3")
    envelope = {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "ItemChanged",
        "source": "com.example.catalog",
        "detail": json.dumps(change_body) if detail_as_string else change_body,
    }

    change = decode(message(envelope))

    assert change.fields["itemId"] == "sku-3"


def test_decode_sns_envelope_with_broken_message_rejected() -> None:
    envelope = {"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": "{broken"}

    with pytest.raises(RejectedRecord) as caught:
        decode(message(envelope))

    assert caught.value.code is ErrorCode.MALFORMED_MESSAGE


def test_message_from_record_reads_lambda_attributes() -> None:
    record = sqs_record(item("sku-4"), receive_count=3, sent_timestamp=1234, group_id="item#sku-4")

    parsed = Message.from_record(record, 7)  # type: ignore[arg-type]

    assert parsed.receive_count == 3
    assert parsed.sent_timestamp == 1234
    assert parsed.position == 7
    assert parsed.group_id == "item#sku-4"
    assert parsed.deduplication_id


def test_message_from_record_group_of_a_standard_queue_is_no_fifo_group() -> None:
    # A standard (fair) queue accepts a MessageGroupId too: it names a tenant and orders nothing. Only a queue
    # whose ARN ends in .fifo, as a FIFO queue's name must, has message groups that order.
    fair = sqs_record(item("sku-4"), group_id="tenant-1", fifo=False)
    fifo = sqs_record(item("sku-4"), group_id="tenant-1", fifo=True)

    assert fair["attributes"]["MessageGroupId"] == "tenant-1"
    assert (from_fifo_queue(fair), Message.from_record(fair, 0).group_id) == (False, None)  # type: ignore[arg-type]
    assert (from_fifo_queue(fifo), Message.from_record(fifo, 0).group_id) == (True, "tenant-1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "body",
    [
        '{"type": "item", "itemId": "sku-\\ud800", "properties": {"price": 1}}',
        '{"type": "item", "itemId": "sku-1", "properties": {"price": 1, "genres": ["A\\udfff"]}}',
        '{"type": "item", "itemId": "sku-1", "properties": {"\\udc00": 1}}',
        '{"type": "event", "sessionId": "s-1", "eventType": "click", "sentAt": 1, "itemId": "\\ud83d"}',
    ],
    ids=["id", "nested-list-value", "property-key", "high-surrogate-without-its-pair"],
)
def test_decode_lone_surrogate_escape_rejected_as_malformed_message_naming_no_value(body: str) -> None:
    # JSON can spell half of a UTF-16 pair ("\ud800"); Python decodes it into a str that cannot be encoded as
    # UTF-8, so it could never be sent. It is not text: reject it once, here, instead of crashing later.
    with pytest.raises(RejectedRecord) as caught:
        decode(message(body))

    assert caught.value.code is ErrorCode.MALFORMED_MESSAGE
    assert "surrogate" in caught.value.message
    assert "sku-" not in caught.value.message


def sns(inner: str) -> str:
    return json.dumps({"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": inner})


@pytest.mark.parametrize(
    "body",
    [
        '{"type": "item", "itemId": "sku-\ud800"}',
        sns('{"type": "item", "itemId": "sku-\\ud800"}'),
        sns('{"type": "item", "itemId": "sku-\\ud800"}').replace("\\\\", "\\u005c"),
        json.dumps({"detail-type": "change", "source": "s", "detail": '{"type": "item", "itemId": "sku-\\udbff"}'}),
    ],
    ids=["raw-code-point", "escape-in-sns-message", "escape-with-its-backslash-escaped", "escape-in-detail-string"],
)
def test_decode_lone_surrogate_spelled_any_way_is_found(body: str) -> None:
    # The walk over the parsed document is skipped for ASCII bodies without "\u": each of these must still be found.
    with pytest.raises(RejectedRecord) as caught:
        decode(Message(message_id="m-1", body=body, position=0, receive_count=1, sent_timestamp=0))

    assert caught.value.code is ErrorCode.MALFORMED_MESSAGE
    assert "surrogate" in caught.value.message


# Few characters, so that surrogates, backslashes, "u" and quotes meet often.
_JSON_TEXT = st.text(alphabet=st.sampled_from(["a", "u", "\\", '"', "é", "\ud800", "\udc00", "\U0001f600"]), max_size=6)
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | _JSON_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_JSON_TEXT, inner, max_size=3),
    max_leaves=8,
)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(document=_JSON_VALUES, ascii_only=st.booleans(), wrapped=st.integers(min_value=0, max_value=2))
def test_may_hold_surrogate_is_never_false_for_text_holding_one(
    document: object, ascii_only: bool, wrapped: int
) -> None:
    # Text is dumped as a publisher might (escaped or not), and wrapped as envelopes are: a string holding JSON.
    text = json.dumps(document, ensure_ascii=ascii_only)
    parsed: object = document
    for _ in range(wrapped):
        text, parsed = json.dumps({"Message": text}, ensure_ascii=ascii_only), {"Message": text}
    if lone_surrogate(document) is not None or lone_surrogate(parsed) is not None:
        assert may_hold_surrogate(text)


def test_decode_surrogate_pair_escape_is_one_character_and_accepted() -> None:
    change = decode(message('{"type": "item", "itemId": "sku-\\ud83d\\ude00", "properties": {"price": 1}}'))

    assert change.fields["itemId"] == "sku-\U0001f600"


def test_decode_unknown_type_message_names_the_field_not_its_value() -> None:
    with pytest.raises(RejectedRecord) as caught:
        decode(message({"type": "jane.doe@example.com", "itemId": "x"}))

    assert "type must be one of" in caught.value.message
    assert "jane" not in caught.value.message
