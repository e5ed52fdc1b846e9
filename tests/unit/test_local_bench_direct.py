"""``local.bench_direct.metered_put_calls``: the benchmark's split of CPU between the Put* calls and the rest."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.stub import Stubber

from local.bench_direct import BOTOCORE_CALL_PATH, metered_put_calls

EVENT = {"eventType": "click", "sentAt": 1_700_000_000}


DATASET_ARN = "arn:aws:personalize:us-east-1:123456789012:dataset/ingest/ITEMS"


def stub_client(service: str) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )


@contextmanager
def stubbed_events_client(put_events: int, put_items: int = 0) -> Iterator[Any]:
    """A personalize-events client answering ``put_events`` PutEvents and ``put_items`` PutItems, without a socket."""
    client = stub_client("personalize-events")
    with Stubber(client) as stubber:
        for _ in range(put_events):
            stubber.add_response("put_events", {})
        for _ in range(put_items):
            stubber.add_response("put_items", {})
        yield client
        stubber.assert_no_pending_responses()


def put_event(client: Any, session: str) -> None:
    client.put_events(trackingId="t-1", sessionId=session, eventList=[EVENT])


def test_meter_counts_every_put_call_of_any_client_and_the_cpu_spent_inside_them() -> None:
    # GIVEN clients built before the meter starts, as the handler builds its own at the cold start
    personalize = stub_client("personalize")
    with stubbed_events_client(put_events=3, put_items=1) as client, Stubber(personalize) as control_plane:
        control_plane.add_response("describe_dataset", {"dataset": {"datasetArn": DATASET_ARN}})
        # WHEN three PutEvents, one PutItems and a DescribeDataset (no Put*) go out while metering
        with metered_put_calls() as metered:
            for session in ("s-1", "s-2", "s-3"):
                put_event(client, session)
            client.put_items(datasetArn=DATASET_ARN, items=[{"itemId": "i-1"}])
            personalize.describe_dataset(datasetArn=DATASET_ARN)
        control_plane.assert_no_pending_responses()

    # THEN each Put* call was counted once, with the CPU its thread spent inside botocore, and nothing else was
    assert metered.calls == 4
    assert metered.cpu_time_s > 0


def test_meter_counts_calls_made_on_other_threads_once_each() -> None:
    # GIVEN eight PutEvents to make from four threads at once
    with stubbed_events_client(put_events=8) as client, metered_put_calls() as metered:
        # WHEN they run concurrently
        def two_events(thread_number: int) -> None:
            for index in range(2):
                put_event(client, f"s-{thread_number}-{index}")

        threads = [threading.Thread(target=two_events, args=(number,)) for number in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    # THEN all eight were counted, none lost to a race
    assert metered.calls == 8


def botocore_call_path() -> Any:
    return getattr(BaseClient, BOTOCORE_CALL_PATH)


def fail_while_metering() -> None:
    with metered_put_calls():
        assert botocore_call_path() is not ORIGINAL_CALL_PATH
        raise RuntimeError("the run failed")


ORIGINAL_CALL_PATH = botocore_call_path()


def test_meter_restores_botocore_when_the_block_ends_even_by_an_exception() -> None:
    # GIVEN a metered block that ends by raising
    # WHEN it runs
    with pytest.raises(RuntimeError, match="the run failed"):
        fail_while_metering()

    # THEN the call path is botocore's again, and a later meter counts only its own calls
    assert botocore_call_path() is ORIGINAL_CALL_PATH
    with stubbed_events_client(put_events=1) as client, metered_put_calls() as metered:
        put_event(client, "s-1")
    assert metered.calls == 1
