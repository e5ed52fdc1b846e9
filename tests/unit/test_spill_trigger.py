"""The scheduled check (spill.trigger) and its estimate (spill.estimate), against fake clients."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

import contract
from ingest.errors import ConfigurationError
from ingest.pacing import parse_quotas
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
# What the stack sets on the check (stacks/spill_workflow.py), as SpillConfig.from_environment reads it.
ENVIRONMENT = {
    contract.SPILL_QUEUE_URL: CONFIG.queue_url,
    contract.DEAD_LETTER_QUEUE_URL: CONFIG.dead_letter_queue_url,
    contract.SPILL_BUCKET: CONFIG.bucket,
    contract.SPILL_ROLE_ARN: CONFIG.role_arn,
    contract.SPILL_MAPPING_UUID: CONFIG.mapping_uuid,
    contract.SPILL_STATE_MACHINE_ARN: CONFIG.state_machine_arn,
    contract.SPILL_AFTER_SECONDS: str(CONFIG.spill_after_seconds),
}


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


def run(fakes: Fakes, now: float = 1_800_000.0, config: SpillConfig = CONFIG) -> tuple[dict[str, Any], list[str]]:
    lines: list[str] = []
    found = check(config, sqs=fakes, stepfunctions=fakes, lambda_client=fakes, clock=lambda: now, emit=lines.append)
    return found, lines


@pytest.mark.parametrize(
    ("depth", "spill_after", "expected"),
    [(180_000, 1_800, False), (180_001, 1_800, True), (10_000_000, 0, False), (5_000, 1_800, False)],
)
def test_only_a_backlog_slower_than_the_setting_spills(depth: int, spill_after: int, expected: bool) -> None:
    assert estimate.should_spill(depth, spill_after) is expected


@pytest.mark.parametrize(
    ("put_quotas", "ceiling"),
    [
        # the contract's quotas: PutItems, PutUsers and PutActions at 10 calls/s of 10 records
        ("", 100.0),
        # PutItems lowered to leave room for another writer
        ("PutItems=8", 80.0),
        ("PutUsers=2.5,PutActions=9", 25.0),
        # raised quotas of the events APIs do not make the slowest kinds faster
        ("PutEvents=2000,PutActionInteractions=1500", 100.0),
        # lowered below the fixed ones, events are the slowest kind a backlog may hold
        ("PutEvents=5", 50.0),
    ],
)
def test_the_ceiling_is_the_slowest_configured_quota_times_the_records_per_call(
    put_quotas: str, ceiling: float
) -> None:
    assert estimate.put_ceiling(parse_quotas(put_quotas)) == ceiling


def test_a_lowered_put_items_quota_spills_a_backlog_the_contracts_quota_would_drain_in_time() -> None:
    # 150,000 messages: 1,500 s at 100 records/s, 1,875 s at PutItems=8's 80.
    ceiling = estimate.put_ceiling(parse_quotas("PutItems=8"))
    assert estimate.drain_seconds(150_000, ceiling=ceiling) == 1_875.0
    assert estimate.should_spill(150_000, 1_800, ceiling=ceiling)
    assert not estimate.should_spill(150_000, 1_800)


def test_the_check_estimates_at_the_configured_quotas() -> None:
    config = SpillConfig.from_environment({**ENVIRONMENT, contract.PUT_QUOTAS: "PutItems=8"})
    fakes = Fakes(depth=150_000)
    found, _ = run(fakes, config=config)
    assert (found["action"], found["drainSeconds"]) == ("started", 1_875.0)
    assert [started["name"] for started in fakes.started] == ["spill-1000"]
    # the same backlog at the contract's quotas drains within spillAfterSeconds
    assert run(Fakes(depth=150_000))[0] == {"action": "none", "depth": 150_000, "drainSeconds": 1_500.0}


def test_the_config_reads_put_quotas_as_the_ingest_function_does() -> None:
    assert SpillConfig.from_environment(ENVIRONMENT).put_quotas == parse_quotas("")
    config = SpillConfig.from_environment({**ENVIRONMENT, contract.PUT_QUOTAS: "PutItems=8,PutEvents=2000"})
    assert config.put_quotas == parse_quotas("PutItems=8,PutEvents=2000")
    with pytest.raises(ConfigurationError, match="PUT_QUOTAS"):
        SpillConfig.from_environment({**ENVIRONMENT, contract.PUT_QUOTAS: "PutItems=0"})


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
