"""Inspection and control of the emulator, over HTTP (``/_emulator/...``) and from Python (``emu.state``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.emulator import EmulatorServer
from tests.emulator.emulator_helpers import Setup, admin


@pytest.fixture
def sent(emu: EmulatorServer, events: Any, setup: Setup) -> dict[str, str]:
    """A group with Items, Interactions and Action interactions datasets, after a few Put* calls."""
    group = setup.group()
    items = setup.dataset("Items", group=group)
    interactions = setup.dataset("Interactions", group=group)
    action_interactions = setup.dataset("Action_Interactions", group=group)
    _, tracking_id = setup.tracker(group)
    action_tracking_id = setup.describe_dataset(action_interactions)["trackingId"]
    events.put_items(datasetArn=items, items=[{"itemId": "i-1", "properties": '{"price": 1}'}])
    events.put_items(datasetArn=items, items=[{"itemId": "i-1", "properties": '{"price": 2}'}])
    with pytest.raises(ClientError):
        events.put_items(datasetArn=items, items=[{"itemId": "i-2", "properties": '{"colour": "red"}'}])
    events.put_events(
        trackingId=tracking_id,
        sessionId="s-1",
        userId="u-1",
        eventList=[{"eventType": "click", "sentAt": 1_700_000_000, "itemId": "i-1"}],
    )
    events.put_action_interactions(
        trackingId=action_tracking_id,
        actionInteractions=[{"actionId": "a-1", "sessionId": "s-1", "eventType": "Taken", "timestamp": 1_700_000_001}],
    )
    return {
        "group": group,
        "items": items,
        "interactions": interactions,
        "action_interactions": action_interactions,
        "tracking_id": tracking_id,
        "action_tracking_id": action_tracking_id,
    }


def test_records_route_returns_latest_item_per_id(emu: EmulatorServer, sent: dict[str, str]) -> None:
    status, body = admin(emu.endpoint_url, "GET", f"records?datasetArn={sent['items']}")

    assert status == 200
    assert body["datasetType"] == "ITEMS"
    assert [(r["itemId"], r["properties"]) for r in body["records"]] == [("i-1", {"price": 2})]
    assert body["records"] == emu.state.records(sent["items"])


def test_records_route_for_interactions_returns_events_with_session(emu: EmulatorServer, sent: dict[str, str]) -> None:
    _, body = admin(emu.endpoint_url, "GET", f"records?datasetArn={sent['interactions']}")

    [event] = body["records"]
    assert (event["sessionId"], event["userId"], event["sentAt"], event["trackingId"]) == (
        "s-1",
        "u-1",
        1_700_000_000.0,
        sent["tracking_id"],
    )


def test_events_route_filters_by_tracking_id(emu: EmulatorServer, sent: dict[str, str]) -> None:
    _, body = admin(emu.endpoint_url, "GET", f"events?trackingId={sent['action_tracking_id']}")
    _, everything = admin(emu.endpoint_url, "GET", "events")

    assert [e["actionId"] for e in body["events"]] == ["a-1"]
    assert body["events"][0]["timestamp"] == 1_700_000_001.0
    assert len(everything["events"]) == 2


def test_records_route_unknown_dataset_answers_404(emu: EmulatorServer) -> None:
    status, body = admin(emu.endpoint_url, "GET", "records?datasetArn=arn:aws:personalize:x:1:dataset/g/ITEMS")

    assert status == 404
    assert "does not exist" in body["message"]


def test_calls_route_logs_api_status_error_and_record_count(emu: EmulatorServer, sent: dict[str, str]) -> None:
    _, body = admin(emu.endpoint_url, "GET", "calls?api=PutItems")

    summary = [(c["status"], c["error"], c["records"], c["datasetArn"]) for c in body["calls"]]
    assert summary == [
        (200, None, 1, sent["items"]),
        (200, None, 1, sent["items"]),
        (400, "InvalidInputException", 1, sent["items"]),
    ]
    assert all(c["datasetGroupArn"] == sent["group"] for c in body["calls"])


def test_calls_route_since_returns_only_newer_calls(emu: EmulatorServer, sent: dict[str, str]) -> None:
    last = emu.state.calls()[-1]["seq"]

    _, body = admin(emu.endpoint_url, "GET", f"calls?since={last - 1}")

    assert [c["seq"] for c in body["calls"]] == [last]


def test_stats_route_counts_calls_errors_and_records(emu: EmulatorServer, sent: dict[str, str]) -> None:
    _, body = admin(emu.endpoint_url, "GET", "stats")

    assert body["calls"]["PutItems"] == {"total": 3, "ok": 2, "errors": {"InvalidInputException": 1}}
    assert body["recordsAccepted"] == {"PutItems": 2, "PutEvents": 1, "PutActionInteractions": 1}
    assert body["resources"]["datasets"] == 3
    assert body == emu.state.stats()


def test_config_route_rejects_unknown_setting(emu: EmulatorServer) -> None:
    status, body = admin(emu.endpoint_url, "POST", "config", {"throttle_rat": 0.5})

    assert status == 400
    assert "unknown settings" in body["message"]


def test_config_route_rejects_out_of_range_value(emu: EmulatorServer) -> None:
    status, _ = admin(emu.endpoint_url, "POST", "config", {"throttle_rate": 2})

    assert status == 400
    assert emu.emulator.config.throttle_rate == 0.0


def test_config_route_get_returns_settings(emu: EmulatorServer) -> None:
    status, body = admin(emu.endpoint_url, "GET", "config")

    assert status == 200
    assert body["quotas"]["PutItems"] == 10
    assert body["account_id"] == "123456789012"


def test_reset_route_data_scope_keeps_resources_and_forgets_records(
    emu: EmulatorServer, personalize: Any, sent: dict[str, str]
) -> None:
    status, body = admin(emu.endpoint_url, "POST", "reset?scope=data")

    assert (status, body) == (200, {"reset": "data"})
    assert emu.state.records(sent["items"]) == []
    assert emu.state.calls() == []
    assert personalize.describe_dataset(datasetArn=sent["items"])["dataset"]["status"] == "ACTIVE"


def test_reset_route_forgets_resources(emu: EmulatorServer, personalize: Any, sent: dict[str, str]) -> None:
    admin(emu.endpoint_url, "POST", "reset")

    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_dataset(datasetArn=sent["items"])


def test_health_route_answers_ok(emu: EmulatorServer) -> None:
    assert admin(emu.endpoint_url, "GET", "health") == (200, {"status": "ok"})


def test_deleted_dataset_records_are_gone(
    emu: EmulatorServer, personalize: Any, setup: Setup, sent: dict[str, str]
) -> None:
    personalize.delete_dataset(datasetArn=sent["items"])
    setup.wait_gone(setup.describe_dataset, sent["items"])

    with pytest.raises(KeyError):
        emu.state.records(sent["items"])


def test_records_from_python_are_copies(emu: EmulatorServer, sent: dict[str, str]) -> None:
    emu.state.records(sent["items"])[0]["properties"]["price"] = 99

    assert json.dumps(emu.state.records(sent["items"])[0]["properties"]) == '{"price": 2}'
