"""Request-rate quotas and injected faults, as botocore sees them.

The throttling error is HTTP 400 with ``x-amzn-ErrorType: ThrottlingException``: botocore's standard and
adaptive retry modes classify it as throttling by its code, and the legacy mode's _retry.json matches
("throttling_exception": code ThrottlingException, status 400).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.retries.standard import RetryContext, RetryEventAdapter, ThrottlingErrorDetector

from local.emulator import EmulatorConfig, EmulatorServer
from tests.emulator.emulator_helpers import ManualClock, Setup, admin, client_kwargs

ITEM = {"itemId": "i-1", "properties": json.dumps({"price": 1.0})}


def put_item_outcome(events: Any, dataset: str) -> str:
    """Send one PutItems call; return "ok" or the error code."""
    try:
        events.put_items(datasetArn=dataset, items=[ITEM])
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "ok"


def is_throttling(client: Any, operation: str, error: ClientError) -> bool:
    """Return whether botocore's retry machinery (standard and adaptive modes) classifies ``error`` as throttling."""
    context = RetryContext(
        attempt_number=1,
        operation_model=client.meta.service_model.operation_model(operation),
        parsed_response=error.response,
    )
    return bool(ThrottlingErrorDetector(RetryEventAdapter()).is_throttling_error_from_context(context))


# --- quotas -----------------------------------------------------------------------------------------------------
#
# These tests run the emulator on a manual clock (the ``clock`` fixture): a window is one second of *its*
# time, so how fast the machine sends the calls cannot change the outcome.

# Personalize's quotas per dataset group (docs/personalize.md §2), written out here so that a change of the
# emulator's defaults fails a test.
DOCUMENTED_QUOTAS = [
    ("PutItems", 10),
    ("PutUsers", 10),
    ("PutActions", 10),
    ("PutEvents", 1000),
    ("PutActionInteractions", 1000),
]


def one_call(api: str, setup: Setup) -> dict[str, Any]:
    """Provision what ``api`` writes to (in a new group) and return the request of one valid call."""
    if api == "PutEvents":
        group = setup.group()
        setup.dataset("Interactions", group=group)
        event = {"eventType": "click", "sentAt": 1_700_000_000, "itemId": "i-1"}
        return {"trackingId": setup.tracker(group)[1], "sessionId": "s-1", "eventList": [event]}
    if api == "PutActionInteractions":
        tracking_id = setup.describe_dataset(setup.dataset("Action_Interactions"))["trackingId"]
        interaction = {"actionId": "a-1", "sessionId": "s-1", "eventType": "Taken", "timestamp": 1_700_000_000}
        return {"trackingId": tracking_id, "actionInteractions": [interaction]}
    dataset_type, list_field, id_field = {
        "PutItems": ("Items", "items", "itemId"),
        "PutUsers": ("Users", "users", "userId"),
        "PutActions": ("Actions", "actions", "actionId"),
    }[api]
    record = ITEM if api == "PutItems" else {id_field: "r-1"}
    return {"datasetArn": setup.dataset(dataset_type), list_field: [record]}


def outcome(events: Any, api: str, request: dict[str, Any]) -> str:
    """Send one call over HTTP; return "ok" or the error code."""
    try:
        getattr(events, xform_name(api))(**request)
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "ok"


@pytest.mark.parametrize(("api", "limit"), DOCUMENTED_QUOTAS)
def test_put_quota_default_admits_limit_per_second_then_throttles_until_window_passes(
    emu: EmulatorServer, events: Any, setup: Setup, clock: ManualClock, *, api: str, limit: int
) -> None:
    # GIVEN the default settings, and what one call of the API writes to
    request = one_call(api, setup)
    path = events.meta.service_model.operation_model(api).http["requestUri"]
    body = json.dumps(request).encode()

    # WHEN `limit` calls arrive within one second (in-process: a thousand HTTP calls would be slow), then one
    # more over HTTP, then one more when the second has passed
    for _ in range(limit):
        emu.emulator.call_events("POST", path, body, "us-east-1")
    with pytest.raises(ClientError) as caught:
        getattr(events, xform_name(api))(**request)
    clock.advance(1.0)
    after_the_window = outcome(events, api, request)

    # THEN the call over the quota is throttled with an error botocore's retry modes treat as throttling, and
    # the window admits calls again once it has passed
    error = caught.value
    assert error.response["Error"]["Code"] == "ThrottlingException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert is_throttling(events, api, error)
    assert after_the_window == "ok"
    assert emu.state.throttle_counts() == {api: 1}
    assert emu.state.stats()["recordsAccepted"][api] == limit + 1


def test_put_items_quota_is_per_api_and_per_group(
    emu: EmulatorServer, events: Any, setup: Setup, clock: ManualClock
) -> None:
    emu.configure(quotas={"PutItems": 1, "PutUsers": 1})
    group = setup.group()
    items, users = setup.dataset("Items", group=group), setup.dataset("Users", group=group)
    other_items = setup.dataset("Items")

    outcomes = [
        put_item_outcome(events, items),
        put_item_outcome(events, items),
        put_item_outcome(events, other_items),
    ]
    events.put_users(datasetArn=users, users=[{"userId": "u-1"}])

    assert outcomes == ["ok", "ThrottlingException", "ok"]


def test_put_items_quota_window_slides_admits_again_one_second_after_the_admitted_call(
    emu: EmulatorServer, events: Any, setup: Setup, clock: ManualClock
) -> None:
    emu.configure(quotas={"PutItems": 1})
    dataset = setup.dataset("Items")
    first = [put_item_outcome(events, dataset) for _ in range(2)]

    clock.advance(0.999)
    just_before = put_item_outcome(events, dataset)
    clock.advance(0.001)
    after = put_item_outcome(events, dataset)

    assert first == ["ok", "ThrottlingException"]
    # A throttled call does not push the window on: one second after the admitted call, a call goes through.
    assert (just_before, after) == ("ThrottlingException", "ok")


def test_put_events_quota_set_over_http_throttles(
    emu: EmulatorServer, events: Any, setup: Setup, clock: ManualClock
) -> None:
    group = setup.group()
    setup.dataset("Interactions", group=group)
    _, tracking_id = setup.tracker(group)
    status, _ = admin(emu.endpoint_url, "POST", "config", {"quotas": {"PutEvents": 2}})
    event = {"eventType": "click", "sentAt": 1_700_000_000, "itemId": "i-1"}
    request = {"trackingId": tracking_id, "sessionId": "s-1", "eventList": [event]}

    codes = [outcome(events, "PutEvents", request) for _ in range(3)]

    assert status == 200
    assert codes == ["ok", "ok", "ThrottlingException"]
    assert len(emu.state.events(tracking_id)) == 2


@pytest.mark.parametrize("mode", ["standard", "legacy", "adaptive"])
def test_throttling_error_retried_by_botocore_in_every_retry_mode(emu: EmulatorServer, setup: Setup, mode: str) -> None:
    dataset = setup.dataset("Items")
    emu.configure(throttle_rate=1.0)
    retries: Any = {"mode": mode, "total_max_attempts": 2}
    kwargs = {**client_kwargs(emu.endpoint_url), "config": Config(retries=retries)}
    retrying: Any = boto3.client("personalize-events", **kwargs)

    with pytest.raises(ClientError) as caught:
        retrying.put_items(datasetArn=dataset, items=[ITEM])

    assert caught.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    assert [c["error"] for c in emu.state.calls("PutItems")] == ["ThrottlingException"] * 2


# --- faults -----------------------------------------------------------------------------------------------------


def test_faults_same_seed_gives_same_sequence(emu: EmulatorServer, events: Any, setup: Setup) -> None:
    dataset = setup.dataset("Items")
    emu.configure(seed=7, throttle_rate=0.3, server_error_rate=0.3, quotas={"PutItems": 1000})
    first = [put_item_outcome(events, dataset) for _ in range(30)]

    emu.configure(seed=7)
    second = [put_item_outcome(events, dataset) for _ in range(30)]

    assert first == second
    assert {"ok", "ThrottlingException"} <= set(first)
    assert set(first) & {"InternalFailure", "ServiceUnavailable"}


def test_faults_same_seed_on_two_emulators_gives_same_sequence(setup: Setup) -> None:
    config = EmulatorConfig(create_delay=0.01, seed=3, throttle_rate=0.25, server_error_rate=0.25)
    sequences = []
    for _ in range(2):
        with EmulatorServer(port=0, config=config) as other:
            client = boto3.client("personalize-events", **client_kwargs(other.endpoint_url))
            arn = "arn:aws:personalize:us-east-1:123456789012:dataset/none/ITEMS"
            sequences.append([put_item_outcome(client, arn) for _ in range(20)])

    assert sequences[0] == sequences[1]


def test_server_error_fault_surfaces_as_botocore_5xx_and_writes_nothing(
    emu: EmulatorServer, events: Any, setup: Setup
) -> None:
    dataset = setup.dataset("Items")
    emu.configure(server_error_rate=1.0)

    with pytest.raises(ClientError) as caught:
        events.put_items(datasetArn=dataset, items=[ITEM])

    error = caught.value.response
    assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) in {
        (500, "InternalFailure"),
        (503, "ServiceUnavailable"),
    }
    assert emu.state.records(dataset) == []
    assert emu.state.stats()["faults"] == {"server_error": 1}


def test_latency_fault_waits_the_configured_delay_before_answering(
    emu: EmulatorServer, events: Any, setup: Setup, clock: ManualClock
) -> None:
    # GIVEN an Items dataset and 150 ms of added latency
    dataset = setup.dataset("Items")
    emu.configure(latency=0.15)

    # WHEN a Put* call and a control-plane call are made
    events.put_items(datasetArn=dataset, items=[ITEM])
    setup.describe_dataset(dataset)

    # THEN the Put* call waited exactly the latency, the control plane (faults off there) not at all
    assert clock.sleeps == [0.15]
    assert [r["itemId"] for r in emu.state.records(dataset)] == ["i-1"]


def test_latency_jitter_same_seed_gives_same_delays_within_bounds(
    emu: EmulatorServer, events: Any, setup: Setup, clock: ManualClock
) -> None:
    # GIVEN 100 ms of latency plus up to 50 ms of seeded jitter
    dataset = setup.dataset("Items")
    emu.configure(latency=0.1, latency_jitter=0.05, seed=4)

    # WHEN five calls are made, then the seed is set again and five more
    for _ in range(5):
        put_item_outcome(events, dataset)
    first = list(clock.sleeps)
    emu.configure(seed=4)
    for _ in range(5):
        put_item_outcome(events, dataset)

    # THEN each delay is within the bounds, they vary, and the seed repeats them
    assert all(0.1 <= delay <= 0.15 for delay in first)
    assert len(set(first)) > 1
    assert clock.sleeps[5:] == first


def test_control_plane_faults_only_when_enabled(emu: EmulatorServer, personalize: Any) -> None:
    emu.configure(throttle_rate=1.0)
    personalize.list_dataset_groups()

    emu.configure(fault_control_plane=True)
    with pytest.raises(ClientError) as throttled:
        personalize.list_dataset_groups()
    emu.configure(control_throttle_code="LimitExceededException")
    with pytest.raises(personalize.exceptions.LimitExceededException):
        personalize.list_dataset_groups()

    assert is_throttling(personalize, "ListDatasetGroups", throttled.value)
