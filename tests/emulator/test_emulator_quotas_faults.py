"""Request-rate quotas and injected faults, as botocore sees them.

The throttling error is HTTP 400 with ``x-amzn-ErrorType: ThrottlingException``: botocore's standard and
adaptive retry modes classify it as throttling by its code, and the legacy mode's _retry.json matches
("throttling_exception": code ThrottlingException, status 400).
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.retries.standard import RetryContext, RetryEventAdapter, ThrottlingErrorDetector

from local.emulator import EmulatorConfig, EmulatorServer
from tests.emulator.emulator_helpers import Setup, admin, client_kwargs

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


def test_put_items_burst_of_11_throttled_and_classified_as_throttling(
    emu: EmulatorServer, events: Any, setup: Setup
) -> None:
    dataset = setup.dataset("Items")
    errors: list[ClientError] = []

    for _ in range(11):
        try:
            events.put_items(datasetArn=dataset, items=[ITEM])
        except ClientError as exc:
            errors.append(exc)

    assert errors, "the eleventh call within a second must be throttled"
    error = errors[0]
    assert error.response["Error"]["Code"] == "ThrottlingException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert is_throttling(events, "PutItems", error)
    assert emu.state.throttle_counts()["PutItems"] == len(errors)


def test_put_items_quota_is_per_api_and_per_group(emu: EmulatorServer, events: Any, setup: Setup) -> None:
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


def test_put_items_quota_window_slides_admits_again_after_a_second(
    emu: EmulatorServer, events: Any, setup: Setup
) -> None:
    emu.configure(quotas={"PutItems": 1})
    dataset = setup.dataset("Items")
    assert [put_item_outcome(events, dataset) for _ in range(2)] == ["ok", "ThrottlingException"]

    time.sleep(1.05)

    assert put_item_outcome(events, dataset) == "ok"


def test_put_events_quota_set_over_http_throttles(emu: EmulatorServer, events: Any, setup: Setup) -> None:
    group = setup.group()
    setup.dataset("Interactions", group=group)
    _, tracking_id = setup.tracker(group)
    status, _ = admin(emu.endpoint_url, "POST", "config", {"quotas": {"PutEvents": 2}})
    event = {"eventType": "click", "sentAt": 1_700_000_000, "itemId": "i-1"}
    codes = []

    for _ in range(3):
        try:
            events.put_events(trackingId=tracking_id, sessionId="s-1", eventList=[event])
            codes.append("ok")
        except ClientError as exc:
            codes.append(exc.response["Error"]["Code"])

    assert status == 200
    assert codes == ["ok", "ok", "ThrottlingException"]
    assert len(emu.state.events(tracking_id)) == 2


@pytest.mark.parametrize("mode", ["standard", "legacy", "adaptive"])
def test_throttling_error_retried_by_botocore_in_every_retry_mode(emu: EmulatorServer, setup: Setup, mode: str) -> None:
    dataset = setup.dataset("Items")
    emu.configure(throttle_rate=1.0)
    kwargs = {**client_kwargs(emu.endpoint_url), "config": Config(retries={"mode": mode, "total_max_attempts": 2})}
    retrying = boto3.client("personalize-events", **kwargs)

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


def test_latency_fault_delays_the_call(emu: EmulatorServer, events: Any, setup: Setup) -> None:
    dataset = setup.dataset("Items")
    emu.configure(latency=0.15)

    started = time.monotonic()
    events.put_items(datasetArn=dataset, items=[ITEM])

    assert time.monotonic() - started >= 0.15


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
