"""Poison records set through their data: the ``reject_records`` setting.

A Put* call holding a record whose id matches the pattern is answered ``InvalidInputException`` naming that
record, and stores nothing, as the service answers one record it refuses (docs/personalize.md §1). It is how the
integration suite gets a service-side poison record past the handler's own validation, without a mock.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.emulator import EmulatorConfig, EmulatorServer
from tests.emulator.emulator_helpers import FAST, Setup, admin


def item(item_id: str) -> dict[str, Any]:
    """One PutItems record that fits the Items schema."""
    return {"itemId": item_id, "properties": json.dumps({"price": 1.0})}


def invalid_input_message(call: Any) -> str:
    """Run ``call``; return the message of the InvalidInputException it must raise."""
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidInputException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(error["Message"])


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    """Records whose id contains "poison" are refused."""
    return dataclasses.replace(FAST, reject_records=re.compile("poison"))


def test_put_items_with_a_matching_record_rejected_naming_it_and_stores_nothing(
    emu: EmulatorServer, events: Any, setup: Setup
) -> None:
    # GIVEN an Items dataset and an emulator refusing records whose id contains "poison"
    dataset = setup.dataset("Items")
    records = [item("sku-1"), item("sku-poison-2"), item("sku-3")]

    # WHEN one call holds that record among good ones
    message = invalid_input_message(lambda: events.put_items(datasetArn=dataset, items=records))

    # THEN the error names the record by index and id, names no other, and the call stored nothing
    assert "items[1] (itemId=sku-poison-2)" in message
    assert "sku-1" not in message
    assert "sku-3" not in message
    assert emu.state.records(dataset) == []


def test_put_items_without_the_matching_record_accepted(emu: EmulatorServer, events: Any, setup: Setup) -> None:
    # GIVEN an emulator refusing records whose id contains "poison"
    dataset = setup.dataset("Items")

    # WHEN the good records are sent alone (as a client that isolated the bad one would)
    events.put_items(datasetArn=dataset, items=[item("sku-1"), item("sku-3")])

    # THEN they are stored
    assert sorted(record["itemId"] for record in emu.state.records(dataset)) == ["sku-1", "sku-3"]


def test_put_events_with_a_matching_item_id_rejected_naming_the_event(
    emu: EmulatorServer, events: Any, setup: Setup
) -> None:
    # GIVEN an Interactions dataset with its event tracker
    group = setup.group()
    setup.dataset("Interactions", group=group)
    _tracker, tracking_id = setup.tracker(group)
    event = {"eventType": "click", "sentAt": 1_763_805_600}

    # WHEN an event's itemId matches
    message = invalid_input_message(
        lambda: events.put_events(
            trackingId=tracking_id,
            sessionId="s-1",
            userId="u-1",
            eventList=[{**event, "itemId": "sku-1"}, {**event, "itemId": "sku-poison"}],
        )
    )

    # THEN the error names that event, and nothing was stored
    assert "eventList[1] (itemId=sku-poison)" in message
    assert emu.state.events(tracking_id) == []


def test_reject_records_set_over_http_takes_effect_and_clears(emu: EmulatorServer, events: Any, setup: Setup) -> None:
    # GIVEN an Actions dataset and the setting changed over HTTP to another pattern
    dataset = setup.dataset("Actions")
    status, config = admin(emu.endpoint_url, "POST", "config", {"reject_records": "^act-bad$"})
    assert (status, config["reject_records"]) == (200, "^act-bad$")

    # WHEN a matching action is sent, then the setting is cleared and it is sent again
    message = invalid_input_message(lambda: events.put_actions(datasetArn=dataset, actions=[{"actionId": "act-bad"}]))
    cleared_status, cleared = admin(emu.endpoint_url, "POST", "config", {"reject_records": None})
    events.put_actions(datasetArn=dataset, actions=[{"actionId": "act-bad"}])

    # THEN it was refused while the pattern was set, and accepted once it was cleared
    assert "actions[0] (actionId=act-bad)" in message
    assert (cleared_status, cleared["reject_records"]) == (200, None)
    assert [record["actionId"] for record in emu.state.records(dataset)] == ["act-bad"]


@pytest.mark.parametrize("value", ["(unclosed", 5])
def test_reject_records_invalid_value_over_http_refused_with_400(emu: EmulatorServer, value: object) -> None:
    # GIVEN the setting in force
    before = admin(emu.endpoint_url, "GET", "config")[1]["reject_records"]

    # WHEN a broken pattern or a non-string is posted
    status, answer = admin(emu.endpoint_url, "POST", "config", {"reject_records": value})

    # THEN the emulator refuses it and keeps the setting it had
    assert status == 400
    assert "reject_records" in answer["message"]
    assert admin(emu.endpoint_url, "GET", "config")[1]["reject_records"] == before == "poison"
