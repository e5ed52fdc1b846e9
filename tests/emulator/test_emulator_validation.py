"""Validation of the Put* calls: what botocore leaves to the service, and records against the dataset's schema.

GIVEN an ACTIVE dataset, WHEN a call breaks a rule, THEN the emulator answers InvalidInputException (as
botocore's modeled exception), names the offending record, and stores nothing of the call.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.emulator import EmulatorServer
from tests.emulator.emulator_helpers import Setup


def item(item_id: str, **properties: Any) -> dict[str, str]:
    """Return a PutItems record; ``PRICE`` (non-nullable) is filled in unless given."""
    return {"itemId": item_id, "properties": json.dumps({"price": 9.99, **properties})}


@pytest.fixture
def items_dataset(setup: Setup) -> str:
    return setup.dataset("Items")


@pytest.fixture
def interactions(setup: Setup) -> tuple[str, str]:
    """An ACTIVE Interactions dataset and its group's event tracker: (dataset ARN, trackingId)."""
    group = setup.group()
    dataset = setup.dataset("Interactions", group=group)
    return dataset, setup.tracker(group)[1]


def put_items_error(events: Any, dataset: str, items: list[dict[str, Any]]) -> str:
    """Send ``items`` expecting InvalidInputException; return its message."""
    with pytest.raises(events.exceptions.InvalidInputException) as caught:
        events.put_items(datasetArn=dataset, items=items)
    return str(caught.value.response["Error"]["Message"])


# --- the service's side of the model: maximums, list sizes, patterns -------------------------------------------


def test_put_items_eleven_records_rejected(events: Any, items_dataset: str) -> None:
    message = put_items_error(events, items_dataset, [item(f"i-{n}") for n in range(11)])

    assert "items: Member must have length less than or equal to 10" in message


def test_put_items_id_over_256_chars_rejected_naming_record(events: Any, items_dataset: str) -> None:
    message = put_items_error(events, items_dataset, [item("ok"), item("x" * 300)])

    assert "items[1] (itemId=xxx" in message
    assert "itemId: Member must have length less than or equal to 256" in message


def test_put_items_malformed_dataset_arn_rejected(events: Any) -> None:
    message = put_items_error(events, "not-an-arn", [item("i-1")])

    assert "datasetArn: Member must satisfy regular expression pattern" in message


def test_put_items_properties_over_32000_chars_rejected(events: Any, items_dataset: str) -> None:
    huge = {"itemId": "i-1", "properties": json.dumps({"description": "d" * 32_100})}

    message = put_items_error(events, items_dataset, [huge])

    assert "properties: Member must have length less than or equal to 32000" in message


def test_put_events_recommendation_id_over_40_chars_rejected(events: Any, interactions: tuple[str, str]) -> None:
    event = {"eventType": "click", "sentAt": 1_700_000_000, "itemId": "i-1", "recommendationId": "r" * 41}

    with pytest.raises(events.exceptions.InvalidInputException, match="recommendationId"):
        events.put_events(trackingId=interactions[1], sessionId="s-1", eventList=[event])


def test_put_events_session_id_null_answered_200_and_stored_nothing(
    emu: EmulatorServer, events: Any, interactions: tuple[str, str]
) -> None:
    # AWS answered such a call with 200 and ignored its events (docs/personalize.md §1, aws-sdk-js#3371): so does the
    # emulator, so a pipeline that lets "null" through loses events in tests as it would in production.
    event = {"eventType": "click", "sentAt": 1_700_000_000, "itemId": "i-1", "eventId": "e-1"}

    response = events.put_events(trackingId=interactions[1], sessionId="null", eventList=[event])
    events.put_events(trackingId=interactions[1], sessionId="s-1", eventList=[{**event, "eventId": "e-2"}])

    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert [stored["eventId"] for stored in emu.state.events(interactions[1])] == ["e-2"]


def test_put_events_26_impressions_rejected(events: Any, interactions: tuple[str, str]) -> None:
    event = {"eventType": "click", "sentAt": 1_700_000_000, "itemId": "i-1", "impression": ["i"] * 26}

    with pytest.raises(events.exceptions.InvalidInputException, match="less than or equal to 25"):
        events.put_events(trackingId=interactions[1], sessionId="s-1", eventList=[event])


# --- properties against the Avro schema -------------------------------------------------------------------------


def test_put_items_properties_not_json_rejected(events: Any, items_dataset: str) -> None:
    message = put_items_error(events, items_dataset, [{"itemId": "i-1", "properties": "{not json"}])

    assert "Error parsing properties json" in message


def test_put_items_unknown_field_rejected_naming_index_and_id(events: Any, items_dataset: str) -> None:
    records = [item("sku-1"), item("sku-2"), item("sku-3"), item("sku-9", colour="red")]

    message = put_items_error(events, items_dataset, records)

    assert 'items[3] (itemId=sku-9): unknown field "colour"' in message
    assert "sku-1" not in message


def test_put_items_schema_name_as_key_rejected_with_camel_case_hint(events: Any, items_dataset: str) -> None:
    message = put_items_error(events, items_dataset, [item("i-1", NUMBER_OF_RATINGS=3)])

    assert 'unknown field "NUMBER_OF_RATINGS" (did you mean "numberOfRatings"?' in message


def test_put_items_camel_case_keys_and_string_numbers_accepted(
    emu: EmulatorServer, events: Any, items_dataset: str
) -> None:
    properties = {
        "price": "12.5",
        "numberOfRatings": "12",
        "releaseTimestamp": 1_767_225_600,
        "genres": "Horror|Action",
        "genreL2": "Slasher",
        "inStock": "true",
    }

    events.put_items(datasetArn=items_dataset, items=[{"itemId": "sku-1", "properties": json.dumps(properties)}])

    assert emu.state.records(items_dataset)[0]["properties"] == properties


@pytest.mark.parametrize(
    ("properties", "problem"),
    [
        ({"price": "cheap"}, 'field "price": expected a float'),
        ({"numberOfRatings": 1.5}, 'field "numberOfRatings": expected an int'),
        ({"numberOfRatings": 2**31}, 'field "numberOfRatings": out of range'),
        ({"inStock": "yes"}, 'field "inStock": expected a boolean'),
        ({"genres": ["Horror", "Action"]}, 'field "genres": expected a string (join several'),
        ({"genres": "g" * 1001}, 'field "genres": a string value holds at most 1000'),
        ({"price": None}, 'field "price": must not be null'),
    ],
)
def test_put_items_mistyped_property_rejected(
    events: Any, items_dataset: str, properties: dict[str, Any], problem: str
) -> None:
    message = put_items_error(events, items_dataset, [{"itemId": "i-1", "properties": json.dumps(properties)}])

    assert problem in message


def test_put_items_missing_non_nullable_field_rejected(events: Any, items_dataset: str) -> None:
    record = {"itemId": "i-1", "properties": json.dumps({"genres": "Horror"})}

    message = put_items_error(events, items_dataset, [record])

    assert 'missing required field "price"' in message


def test_put_items_textual_over_20000_chars_accepted_and_truncated(
    emu: EmulatorServer, events: Any, items_dataset: str
) -> None:
    events.put_items(datasetArn=items_dataset, items=[item("i-1", description="d" * 25_000)])

    assert len(emu.state.records(items_dataset)[0]["properties"]["description"]) == 20_000


def test_put_items_failed_call_writes_nothing(emu: EmulatorServer, events: Any, items_dataset: str) -> None:
    put_items_error(events, items_dataset, [item("good-1"), item("good-2"), item("bad", colour="red")])

    assert emu.state.records(items_dataset) == []


def test_put_items_same_id_twice_keeps_latest(emu: EmulatorServer, events: Any, items_dataset: str) -> None:
    events.put_items(datasetArn=items_dataset, items=[item("i-1", genres="Old")])
    events.put_items(datasetArn=items_dataset, items=[item("i-1", genres="New")])

    records = emu.state.records(items_dataset)
    assert [(r["itemId"], r["properties"]["genres"]) for r in records] == [("i-1", "New")]


# --- the target: dataset type, status, tracking ids -------------------------------------------------------------


def test_put_users_to_items_dataset_rejected(events: Any, items_dataset: str) -> None:
    with pytest.raises(events.exceptions.InvalidInputException, match="USERS dataset"):
        events.put_users(datasetArn=items_dataset, users=[{"userId": "u-1"}])


def test_put_items_unknown_dataset_raises_resource_not_found(events: Any) -> None:
    arn = "arn:aws:personalize:us-east-1:123456789012:dataset/nope/ITEMS"

    with pytest.raises(events.exceptions.ResourceNotFoundException) as caught:
        events.put_items(datasetArn=arn, items=[item("i-1")])

    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_put_items_dataset_not_active_raises_resource_in_use(emu: EmulatorServer, events: Any, setup: Setup) -> None:
    group = setup.group()
    emu.configure(create_delay=30)
    dataset = setup.dataset("Items", group=group, wait=False)

    with pytest.raises(events.exceptions.ResourceInUseException) as caught:
        events.put_items(datasetArn=dataset, items=[item("i-1")])

    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_put_users_and_actions_valid_records_stored(emu: EmulatorServer, events: Any, setup: Setup) -> None:
    group = setup.group()
    users = setup.dataset("Users", group=group)
    actions = setup.dataset("Actions", group=group)

    events.put_users(datasetArn=users, users=[{"userId": "u-1", "properties": '{"membershipType": "gold"}'}])
    events.put_actions(datasetArn=actions, actions=[{"actionId": "a-7", "properties": '{"value": "100"}'}])

    assert emu.state.records(users)[0]["properties"] == {"membershipType": "gold"}
    assert emu.state.records(actions)[0]["actionId"] == "a-7"


def test_put_events_unknown_tracking_id_raises_invalid_input(events: Any) -> None:
    event = {"eventType": "click", "sentAt": 1_700_000_000}

    with pytest.raises(events.exceptions.InvalidInputException, match="trackingId"):
        events.put_events(trackingId="no-such-tracker", sessionId="s-1", eventList=[event])


def test_put_events_group_without_interactions_dataset_raises_invalid_input(events: Any, setup: Setup) -> None:
    # GIVEN an ACTIVE event tracker in a group that has no Interactions dataset
    group = setup.group()
    setup.dataset("Items", group=group)
    _, tracking_id = setup.tracker(group)
    event = {"eventType": "click", "sentAt": 1_700_000_000, "itemId": "i-1"}

    # WHEN events are put through it
    # THEN PutEvents answers InvalidInput (the only error its model has)
    with pytest.raises(
        events.exceptions.InvalidInputException, match=f"of trackingId {tracking_id} has no ACTIVE Interactions dataset"
    ):
        events.put_events(trackingId=tracking_id, sessionId="s-1", eventList=[event])


def test_put_events_tracker_not_active_raises_invalid_input(emu: EmulatorServer, events: Any, setup: Setup) -> None:
    group = setup.group()
    setup.dataset("Interactions", group=group)
    emu.configure(create_delay=30)
    _, tracking_id = setup.tracker(group, wait=False)
    event = {"eventType": "click", "sentAt": 1_700_000_000, "itemId": "i-1"}

    with pytest.raises(events.exceptions.InvalidInputException, match="must be ACTIVE"):
        events.put_events(trackingId=tracking_id, sessionId="s-1", eventList=[event])


def test_put_events_one_bad_event_stores_none_and_names_it(
    emu: EmulatorServer, events: Any, interactions: tuple[str, str]
) -> None:
    _, tracking_id = interactions
    good = {"eventId": "e-1", "eventType": "click", "sentAt": 1_700_000_000, "itemId": "i-1"}
    bad = {**good, "eventId": "e-2", "properties": json.dumps({"colour": "red"})}

    with pytest.raises(events.exceptions.InvalidInputException) as caught:
        events.put_events(trackingId=tracking_id, sessionId="s-1", eventList=[good, bad])

    assert 'eventList[1] (eventId=e-2): unknown field "colour"' in caught.value.response["Error"]["Message"]
    assert "e-1" not in caught.value.response["Error"]["Message"]
    assert emu.state.events(tracking_id) == []


@pytest.mark.parametrize("key", ["userId", "SESSIONID", "eventType", "timestamp", "recommendationId", "impression"])
def test_put_events_forbidden_property_key_rejected(events: Any, interactions: tuple[str, str], key: str) -> None:
    event = {"eventId": "e-1", "eventType": "click", "sentAt": 1_700_000_000, "properties": json.dumps({key: "x"})}

    with pytest.raises(events.exceptions.InvalidInputException) as caught:
        events.put_events(trackingId=interactions[1], sessionId="s-1", eventList=[event])

    assert (
        f'eventList[0] (eventId=e-1): properties may not contain "{key}"' in caught.value.response["Error"]["Message"]
    )


def test_put_events_valid_events_stored_with_session_and_user(
    emu: EmulatorServer, events: Any, interactions: tuple[str, str]
) -> None:
    dataset, tracking_id = interactions
    event = {"eventId": "e-1", "eventType": "click", "sentAt": 1_700_000_000, "itemId": "i-1"}

    events.put_events(
        trackingId=tracking_id,
        sessionId="s-1",
        userId="u-1",
        eventList=[{**event, "properties": '{"device": "ios"}'}, {**event, "eventId": "e-2"}],
    )

    stored = emu.state.events(tracking_id)
    assert [(e["eventId"], e["sessionId"], e["userId"], e["sentAt"]) for e in stored] == [
        ("e-1", "s-1", "u-1", 1_700_000_000.0),
        ("e-2", "s-1", "u-1", 1_700_000_000.0),
    ]
    assert stored[0]["properties"] == {"device": "ios"}
    assert emu.state.records(dataset) == stored


def test_put_action_interactions_dataset_tracking_id_accepted(emu: EmulatorServer, events: Any, setup: Setup) -> None:
    dataset = setup.dataset("Action_Interactions")
    tracking_id = setup.describe_dataset(dataset)["trackingId"]
    interaction = {"actionId": "a-7", "sessionId": "s-1", "userId": "u-1", "eventType": "Taken", "timestamp": 1}

    events.put_action_interactions(trackingId=tracking_id, actionInteractions=[interaction])

    assert emu.state.records(dataset)[0]["actionId"] == "a-7"


def test_put_action_interactions_dataset_not_active_raises_resource_in_use(
    emu: EmulatorServer, events: Any, setup: Setup
) -> None:
    # GIVEN an Action interactions dataset still being created (its trackingId is already described)
    group = setup.group()
    emu.configure(create_delay=30)
    dataset = setup.dataset("Action_Interactions", group=group, wait=False)
    tracking_id = setup.describe_dataset(dataset)["trackingId"]
    interaction = {"actionId": "a-7", "sessionId": "s-1", "eventType": "Taken", "timestamp": 1}

    # WHEN an action interaction is put through it
    with pytest.raises(events.exceptions.ResourceInUseException) as caught:
        events.put_action_interactions(trackingId=tracking_id, actionInteractions=[interaction])

    # THEN it is refused as the model's 409, and nothing is stored
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert emu.state.events(tracking_id) == []


def test_put_items_dataset_being_deleted_raises_resource_in_use(
    emu: EmulatorServer, personalize: Any, events: Any, items_dataset: str
) -> None:
    emu.configure(delete_delay=30)
    personalize.delete_dataset(datasetArn=items_dataset)

    with pytest.raises(events.exceptions.ResourceInUseException, match="DELETE PENDING"):
        events.put_items(datasetArn=items_dataset, items=[item("i-1")])


def test_put_action_interactions_unknown_tracking_id_raises_resource_not_found(events: Any) -> None:
    interaction = {"actionId": "a-7", "sessionId": "s-1", "eventType": "Taken", "timestamp": 1}

    with pytest.raises(events.exceptions.ResourceNotFoundException):
        events.put_action_interactions(trackingId="nope", actionInteractions=[interaction])


def test_put_action_interactions_forbidden_key_rejected(events: Any, setup: Setup) -> None:
    tracking_id = setup.describe_dataset(setup.dataset("Action_Interactions"))["trackingId"]
    interaction = {"actionId": "a-7", "sessionId": "s-1", "eventType": "Taken", "timestamp": 1}

    with pytest.raises(events.exceptions.InvalidInputException, match='may not contain "Timestamp"'):
        events.put_action_interactions(
            trackingId=tracking_id, actionInteractions=[{**interaction, "properties": '{"Timestamp": 1}'}]
        )
