"""The record limits the emulator shares with the ingest Lambda (``service_rules``), over the wire.

GIVEN an ACTIVE dataset, WHEN a Put* call carries a record the shared rules refuse, THEN the emulator answers
InvalidInputException and stores nothing; at the limit, it stores the record.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from service_rules import MAX_EVENT_BYTES, event_size
from tests.emulator.emulator_helpers import ManualClock, Setup

ASTRAL = "\N{GRINNING FACE}"


@pytest.fixture
def users_dataset(setup: Setup) -> str:
    return setup.dataset("Users")


@pytest.fixture
def tracker(setup: Setup) -> str:
    group = setup.group()
    setup.dataset("Interactions", group=group)
    return setup.tracker(group)[1]


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("g" * 1000, True),
        ("g" * 600 + "|" + "s" * 600, False),  # each value fits; joined, the string does not
        (ASTRAL * 500, True),  # 1,000 UTF-16 code units
        (ASTRAL * 600, False),  # 600 code points, 1,200 UTF-16 code units
    ],
)
def test_categorical_value_limit_is_the_whole_string_in_utf16_units(
    events: Any, users_dataset: str, value: str, accepted: bool
) -> None:
    call = {
        "datasetArn": users_dataset,
        "users": [{"userId": "u-1", "properties": json.dumps({"membershipType": value})}],
    }
    if accepted:
        events.put_users(**call)
    else:
        with pytest.raises(events.exceptions.InvalidInputException, match="at most 1000 characters"):
            events.put_users(**call)


def test_a_properties_string_holding_a_surrogate_escape_is_refused(events: Any, users_dataset: str) -> None:
    with pytest.raises(events.exceptions.InvalidInputException, match="surrogate"):
        events.put_users(
            datasetArn=users_dataset, users=[{"userId": "u-1", "properties": '{"membershipType":"\\ud800"}'}]
        )


def test_event_size_is_counted_as_the_sdk_sends_it_with_the_session(events: Any, tracker: str) -> None:
    # GIVEN an event just over the limit only when its call's sessionId and non-ASCII escapes are counted
    session_id = "s" * 200
    over = {"eventType": "click", "sentAt": 1_763_805_600, "impression": ["é" * 250] * 7}
    assert event_size(over, {"sessionId": session_id}) > MAX_EVENT_BYTES

    with pytest.raises(events.exceptions.InvalidInputException, match=f"at most {MAX_EVENT_BYTES} bytes"):
        events.put_events(trackingId=tracker, sessionId=session_id, eventList=[over])


def test_an_attribution_source_with_a_final_newline_is_refused(events: Any, tracker: str) -> None:
    event = {"eventType": "click", "sentAt": 1_763_805_600, "metricAttribution": {"eventAttributionSource": "p\n"}}
    with pytest.raises(events.exceptions.InvalidInputException, match="pattern"):
        events.put_events(trackingId=tracker, sessionId="s-1", eventList=[event])


def test_a_tracker_not_active_is_refused_naming_its_tracking_id(events: Any, setup: Setup, clock: ManualClock) -> None:
    # The ingest Lambda tells a setup error from a bad event by the tracking id the message names. On the manual
    # clock, the tracker stays CREATE PENDING until the test moves it (on the wall clock, a loaded machine let its
    # 20 ms creation pass before the call once).
    group = setup.group()
    setup.dataset("Interactions", group=group)
    _, tracking_id = setup.tracker(group, wait=False)
    event = {"eventType": "click", "sentAt": 1_763_805_600}
    with pytest.raises(events.exceptions.InvalidInputException, match=f"trackingId {tracking_id}"):
        events.put_events(trackingId=tracking_id, sessionId="s-1", eventList=[event])
