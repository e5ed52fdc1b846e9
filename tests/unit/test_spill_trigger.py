"""The scheduled check (spill.trigger) and its estimate (spill.estimate), against fake clients."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from spill import estimate
from spill.config import SpillConfig
from spill.trigger import check

CONFIG = SpillConfig(
    queue_url="https://sqs/q",
    dead_letter_queue_url="https://sqs/dlq",
    bucket="b",
    role_arn="arn:role",
    mapping_uuid="m-1",
    state_machine_arn="arn:sm",
    spill_after_seconds=1_800,
)


class Fakes:
    def __init__(self, *, depth: int, running: bool = False, mapping: str = "Enabled", exists: bool = False) -> None:
        self.depth, self.running, self.mapping, self.exists = depth, running, mapping, exists
        self.started: list[dict[str, Any]] = []
        self.updates: list[bool] = []

    # sqs
    def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
        return {"Attributes": {"ApproximateNumberOfMessages": str(self.depth)}}

    # stepfunctions
    def list_executions(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["statusFilter"] == "RUNNING"
        return {"executions": [{"name": "spill-1"}] if self.running else []}

    def start_execution(self, **kwargs: Any) -> dict[str, Any]:
        if self.exists:
            raise ClientError({"Error": {"Code": "ExecutionAlreadyExists"}}, "StartExecution")
        self.started.append(kwargs)
        return {"executionArn": "arn:execution"}

    # lambda
    def get_event_source_mapping(self, **_: Any) -> dict[str, Any]:
        return {"State": self.mapping}

    def update_event_source_mapping(self, **kwargs: Any) -> dict[str, Any]:
        self.updates.append(kwargs["Enabled"])
        return {"State": "Enabling"}


def run(fakes: Fakes, now: float = 1_800_000.0) -> tuple[dict[str, Any], list[str]]:
    lines: list[str] = []
    found = check(CONFIG, sqs=fakes, stepfunctions=fakes, lambda_client=fakes, clock=lambda: now, emit=lines.append)
    return found, lines


@pytest.mark.parametrize(
    ("depth", "spill_after", "expected"),
    [(180_000, 1_800, False), (180_001, 1_800, True), (10_000_000, 0, False), (5_000, 1_800, False)],
)
def test_only_a_backlog_slower_than_the_setting_spills(depth: int, spill_after: int, expected: bool) -> None:
    assert estimate.should_spill(depth, spill_after) is expected


def test_execution_names_are_one_per_window() -> None:
    assert estimate.execution_name(3_600.0, 1_800) == estimate.execution_name(5_399.0, 1_800) == "spill-2"
    assert estimate.execution_name(5_400.0, 1_800) == "spill-3"
    assert estimate.execution_name(59.0, 10) == "spill-0"  # windows are at least the check's minute


def test_a_deep_backlog_starts_one_spill_and_counts_it() -> None:
    fakes = Fakes(depth=500_000)
    found, lines = run(fakes)
    assert found["action"] == "started"
    (started,) = fakes.started
    assert started["name"] == "spill-1000"
    assert json.loads(started["input"]) == {"spillId": "spill-1000"}
    assert '"SpillsStarted": 1' in lines[0]


def test_a_small_backlog_starts_nothing() -> None:
    fakes = Fakes(depth=1_000)
    found, lines = run(fakes)
    assert found == {"action": "none", "depth": 1_000, "drainSeconds": 10.0}
    assert fakes.started == []
    assert lines == []


def test_a_running_spill_is_left_alone() -> None:
    fakes = Fakes(depth=500_000, running=True, mapping="Disabled")
    assert run(fakes)[0]["action"] == "running"
    assert fakes.started == []
    assert fakes.updates == []


def test_a_second_check_in_the_window_starts_nothing() -> None:
    found, lines = run(Fakes(depth=500_000, exists=True))
    assert found["action"] == "already"
    assert lines == []


@pytest.mark.parametrize("state", ["Disabled", "Disabling"])
def test_the_guard_resumes_a_mapping_left_paused_and_alarms(state: str) -> None:
    fakes = Fakes(depth=500_000, mapping=state)
    found, lines = run(fakes)
    assert found["action"] == "restored"
    assert fakes.updates == [True]
    assert fakes.started == []
    assert '"MappingRestored": 1' in lines[0]
