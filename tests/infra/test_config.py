"""The typed configuration's settings: defaults, the string spellings ``-c`` passes, and one clear error per bad key.

The datasets, the dataset group and their schemas are ``test_config_datasets.py``'s.
"""

from __future__ import annotations

import json

import pytest

import contract
from ingest.pacing import parse_quotas
from stacks.config import (
    LOG_RETENTION_DAYS,
    PROJECT_ROOT,
    AlarmThresholds,
    ConfigError,
    DatasetGroupConfig,
    PipelineConfig,
    parse_bool,
    render_put_quotas,
)
from stacks.ingestion_stack import REMOVAL_POLICIES, RETENTION_DAYS
from tests.infra.config_cases import (
    config_with,
)
from tests.infra.synthesis import ACTIONS_ARN, project_context


def test_config_cdk_json_context_matches_code_defaults() -> None:
    # GIVEN cdk.json's context WHEN it is validated THEN it is the documented default configuration
    config = PipelineConfig.from_context(project_context())

    assert config == PipelineConfig(
        datasets=config.datasets,
        dataset_group=DatasetGroupConfig(name="personalize-ingest"),
        removal_policy="retain",
        stack_name="PersonalizeIngest",
        batch_size=250,
        max_batching_window_seconds=1,
        max_concurrency=2,
        max_receive_count=5,
        function_timeout_seconds=60,
        function_memory_mb=512,
        log_retention_days=30,
        spill_after_seconds=1_800,
        put_quotas={},
    )
    # The stack creates the items and actions datasets, with the project's schemas
    assert [(d.kind.name, d.arn, d.schema_file) for d in config.datasets] == [
        ("items", None, "schemas/items.json"),
        ("actions", None, "schemas/actions.json"),
    ]
    assert config.datasets[0].schema == (PROJECT_ROOT / "schemas" / "items.json").read_text()
    assert config.provisions_datasets


def test_config_absent_keys_take_defaults() -> None:
    config = config_with()

    assert (config.stack_name, config.batch_size, config.max_batching_window_seconds, config.max_concurrency) == (
        "PersonalizeIngest",
        250,
        1,
        2,
    )
    assert (config.spill_after_seconds, config.put_quotas) == (1_800, {})
    assert (config.max_receive_count, config.function_timeout_seconds, config.function_memory_mb) == (5, 60, 512)
    assert config.log_retention_days == 30
    assert (config.dataset_group, config.removal_policy, config.provisions_datasets) == (None, "retain", False)


def test_config_command_line_strings_parse_to_typed_values() -> None:
    # GIVEN every value spelled as `cdk synth -c key=value` passes it: a string
    config = PipelineConfig.from_context(
        {
            "stackName": "Ingest-Prod",
            "datasets": json.dumps({"actions": {"arn": ACTIONS_ARN}}),
            "batchSize": "100",
            "maxBatchingWindowSeconds": "30",
            "maxConcurrency": "5",
            "maxReceiveCount": "3",
            "functionTimeoutSeconds": "120",
            "functionMemoryMb": "1024",
            "logRetentionDays": "7",
            "spillAfterSeconds": "0",
            "putQuotas": '{"PutEvents": "2000", "PutActionInteractions": 1500.5}',
        }
    )

    assert config == PipelineConfig(
        datasets=config.datasets,
        stack_name="Ingest-Prod",
        batch_size=100,
        max_batching_window_seconds=30,
        max_concurrency=5,
        max_receive_count=3,
        function_timeout_seconds=120,
        function_memory_mb=1024,
        log_retention_days=7,
        spill_after_seconds=0,
        put_quotas={"PutEvents": 2000.0, "PutActionInteractions": 1500.5},
    )
    assert [(d.kind.name, d.arn) for d in config.datasets] == [("actions", ACTIONS_ARN)]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("batchSize", "x", "batchSize: must be an integer between 1 and 10000, got 'x'"),
        ("batchSize", 0, "batchSize: must be an integer between 1 and 10000, got 0"),
        ("batchSize", 10_001, "batchSize: must be an integer between 1 and 10000, got 10001"),
        ("batchSize", True, "batchSize: must be an integer between 1 and 10000, got True"),
        ("batchSize", 2.5, "batchSize: must be an integer between 1 and 10000, got 2.5"),
        ("batchSize", "", "batchSize: must be an integer between 1 and 10000, got ''"),
        ("maxBatchingWindowSeconds", -1, "maxBatchingWindowSeconds: must be an integer between 0 and 300"),
        ("maxBatchingWindowSeconds", "301", "maxBatchingWindowSeconds: must be an integer between 0 and 300"),
        ("maxConcurrency", 1, "maxConcurrency: must be an integer between 2 and 1000, got 1"),
        ("maxConcurrency", "1001", "maxConcurrency: must be an integer between 2 and 1000"),
        ("maxReceiveCount", 0, "maxReceiveCount: must be an integer between 1 and 1000"),
        ("maxReceiveCount", 1001, "maxReceiveCount: must be an integer between 1 and 1000"),
        ("functionTimeoutSeconds", 9, "functionTimeoutSeconds: must be an integer between 10 and 900, got 9"),
        ("functionTimeoutSeconds", "901", "functionTimeoutSeconds: must be an integer between 10 and 900"),
        ("functionMemoryMb", 127, "functionMemoryMb: must be an integer between 128 and 10240"),
        ("functionMemoryMb", 10_241, "functionMemoryMb: must be an integer between 128 and 10240"),
        ("spillAfterSeconds", -1, "spillAfterSeconds: must be an integer between 0 and 86400, got -1"),
        ("spillAfterSeconds", "86401", "spillAfterSeconds: must be an integer between 0 and 86400"),
        ("spillAfterSeconds", True, "spillAfterSeconds: must be an integer between 0 and 86400"),
        ("logRetentionDays", 2, "logRetentionDays: must be one of CloudWatch Logs' retention periods (1, 3, 5,"),
        ("logRetentionDays", "a month", "logRetentionDays: must be one of CloudWatch Logs' retention periods"),
        # Retired: a value that silently did nothing would let a reader believe it still chose the layer
        ("powertoolsLayerVersion", 27, "powertoolsLayerVersion: no longer used: the functions deploy with a layer"),
        ("powertoolsLayerVersion", "30", "powertoolsLayerVersion: no longer used"),
        ("stackName", "1-ingest", "stackName: must be a CloudFormation stack name"),
        ("stackName", "ingest prod", "stackName: must be a CloudFormation stack name"),
        ("stackName", "", "stackName: must be a CloudFormation stack name"),
        ("stackName", "x" * 129, "stackName: must be a CloudFormation stack name"),
    ],
)
def test_config_bad_value_raises_config_error_naming_key(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config_with(**{key: value})

    assert raised.value.key == key
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize(
    ("context", "key", "message"),
    [
        ({"datasets": {"items": {}}, "removalPolicy": "snapshot"}, "removalPolicy", "must be one of retain, destroy"),
        ({"queueType": "lifo"}, "queueType", "must be one of standard, fifo, got 'lifo'"),
        ({"queueType": "fifo", "batchSize": 11, "maxBatchingWindowSeconds": 0}, "batchSize", "must be at most 10"),
        # Given explicitly, the standard queue's defaults are refused on a FIFO queue, with the value to pass.
        ({"queueType": "fifo", "batchSize": 250}, "batchSize", "must be at most 10 with queueType fifo"),
        # cdk.json's values with -c queueType=fifo: both refused (the first checked is named), saying what to pass
        (
            {"queueType": "fifo", "batchSize": 250, "maxBatchingWindowSeconds": 1},
            "batchSize",
            "must be at most 10 with queueType fifo (Lambda's limit for FIFO queues), got 250: pass -c batchSize=10",
        ),
        ({"queueType": "fifo", "maxBatchingWindowSeconds": 5}, "maxBatchingWindowSeconds", "must be 0 with queueTy"),
        (
            {"queueType": "fifo", "maxBatchingWindowSeconds": 1},
            "maxBatchingWindowSeconds",
            "must be 0 with queueType fifo (Lambda has no batching window for FIFO queues), got 1: pass -c "
            "maxBatchingWindowSeconds=0",
        ),
        ({"alarmEmail": "oncall"}, "alarmEmail", "must be an email address, got 'oncall'"),
        ({"alarmEmail": 42}, "alarmEmail", "must be an email address"),
        ({"alarms": "loud"}, "alarms", "must be a JSON object"),
        ({"alarms": {"deadLetters": 1}}, "alarms", "unknown field(s) deadLetters; known fields: maxMessageAgeSeconds"),
        ({"alarms": {"functionErrors": 0}}, "alarms.functionErrors", "must be an integer of at least 1, got 0"),
        ({"alarms": {"setupErrors": "x"}}, "alarms.setupErrors", "must be an integer of at least 1, got 'x'"),
        ({"alarms": {"throttledPeriods": 37}}, "alarms.throttledPeriods", "must be at most 36, got 37"),
    ],
)
def test_config_bad_queue_alarm_or_removal_policy_raises_config_error_naming_key(
    context: dict[str, object], key: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        config_with(**context)

    assert raised.value.key == key
    assert str(raised.value).startswith(f"{key}: {message}")


@pytest.mark.parametrize(
    ("quotas", "key", "message"),
    [
        ("fast", "putQuotas", "must be a JSON object"),
        (
            {"PutThings": 5},
            "putQuotas.PutThings",
            "names no Put* API; known: PutItems, PutActions, PutUsers, PutEvents",
        ),
        # PutItems, PutUsers and PutActions: 10 calls/s per dataset group, not adjustable (docs/personalize.md §2).
        ({"PutItems": 20}, "putQuotas.PutItems", "must be at most 10 (PutItems's quota is not adjustable"),
        ({"PutUsers": "11"}, "putQuotas.PutUsers", "must be at most 10"),
        ({"PutActions": 10.5}, "putQuotas.PutActions", "must be at most 10"),
        ({"PutEvents": 0}, "putQuotas.PutEvents", "must be a positive number of calls per second, got 0"),
        ({"PutEvents": "-5"}, "putQuotas.PutEvents", "must be a positive number"),
        ({"PutEvents": True}, "putQuotas.PutEvents", "must be a positive number"),
        ({"PutEvents": "nan"}, "putQuotas.PutEvents", "must be a positive number"),
        ({"PutActionInteractions": "inf"}, "putQuotas.PutActionInteractions", "must be a positive number"),
        ({"PutEvents": [2000]}, "putQuotas.PutEvents", "must be a positive number"),
    ],
)
def test_config_bad_put_quotas_raise_config_error_naming_the_api(quotas: object, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config_with(putQuotas=quotas)

    assert raised.value.key == key
    assert str(raised.value).startswith(f"{key}: {message}")


def test_config_put_quotas_render_as_the_handlers_put_quotas_in_contract_order() -> None:
    # Raised quotas and the fixed ones at (or below) their ceiling; written in any order.
    config = config_with(putQuotas={"PutActionInteractions": 1500.5, "PutEvents": 2000, "PutItems": 10})

    assert render_put_quotas(config.put_quotas) == "PutItems=10,PutEvents=2000,PutActionInteractions=1500.5"
    # What the handler parses back (lambdas/ingest/pacing.py), over the contract's quotas for the APIs not named.
    assert parse_quotas(render_put_quotas(config.put_quotas)) == {
        **{spec.api: spec.quota_per_second for spec in contract.KIND_SPECS.values()},
        "PutItems": 10.0,
        "PutEvents": 2000.0,
        "PutActionInteractions": 1500.5,
    }
    assert config_with(putQuotas="").put_quotas == {}
    assert render_put_quotas({}) == ""


def test_config_direct_construction_checks_put_quotas() -> None:
    (dataset,) = config_with().datasets

    with pytest.raises(ConfigError, match=r"^putQuotas\.PutUsers: must be at most 10"):
        PipelineConfig(datasets=(dataset,), put_quotas={"PutUsers": 50})


def test_config_every_removal_policy_maps_to_cdk_removal_policy() -> None:
    assert sorted(REMOVAL_POLICIES) == ["destroy", "retain"]


def test_config_large_batch_without_window_raises_config_error_naming_window() -> None:
    # Lambda refuses an SQS batch size above 10 without a batching window.
    with pytest.raises(ConfigError, match=r"^maxBatchingWindowSeconds: must be at least 1 when batchSize is above 10"):
        config_with(batchSize="11", maxBatchingWindowSeconds=0)

    assert config_with(batchSize=10, maxBatchingWindowSeconds=0).batch_size == 10
    assert config_with(batchSize=11, maxBatchingWindowSeconds=1).batch_size == 11


def test_config_direct_construction_validated_like_context() -> None:
    (dataset,) = config_with().datasets

    with pytest.raises(ConfigError, match=r"^maxConcurrency: "):
        PipelineConfig(datasets=(dataset,), max_concurrency=1)
    with pytest.raises(ConfigError, match=r"^datasets: at most one dataset per kind"):
        PipelineConfig(datasets=(dataset, dataset))
    with pytest.raises(ConfigError, match=r"^datasets: at least one dataset is required"):
        PipelineConfig(datasets=())


@pytest.mark.parametrize(("value", "expected"), [(True, True), (False, False), ("true", True), (" FALSE ", False)])
def test_config_parse_bool_accepts_bool_and_its_spelling(value: object, expected: bool) -> None:
    assert parse_bool("retain", value) is expected


@pytest.mark.parametrize("value", ["yes", 1, "", None])
def test_config_parse_bool_other_value_raises_config_error_naming_key(value: object) -> None:
    with pytest.raises(ConfigError, match=r"^retain: must be true or false"):
        parse_bool("retain", value)


def test_config_every_log_retention_period_maps_to_cdk_retention() -> None:
    assert sorted(RETENTION_DAYS) == sorted(LOG_RETENTION_DAYS)


def test_config_fifo_alarm_email_and_thresholds_from_command_line_strings() -> None:
    config = config_with(
        queueType="FIFO", alarmEmail="oncall@example.com", alarms='{"maxMessageAgeSeconds": "600", "setupErrors": 2}'
    )

    assert (config.queue_type, config.fifo, config.alarm_email) == ("fifo", True, "oncall@example.com")
    # batchSize and maxBatchingWindowSeconds not given: Lambda's FIFO limits, not the standard queue's defaults.
    assert (config.batch_size, config.max_batching_window_seconds) == (10, 0)
    assert (config.alarms.max_message_age_seconds, config.alarms.setup_errors) == (600, 2)
    # Fields not given keep the construct's defaults.
    assert config.alarms.dead_letter_messages == AlarmThresholds().dead_letter_messages


def test_config_absent_queue_and_alarm_keys_standard_queue_default_alarms_no_email() -> None:
    config = config_with(alarmEmail="")

    assert (config.queue_type, config.fifo, config.alarm_email, config.alarms) == (
        "standard",
        False,
        None,
        AlarmThresholds(),
    )


def test_config_alarm_thresholds_zero_or_negative_rejected() -> None:
    with pytest.raises(ValueError, match="throttled_periods must be a positive integer"):
        AlarmThresholds(throttled_periods=0)


def test_config_alarm_thresholds_throttling_beyond_three_hours_of_periods_rejected_naming_the_bound() -> None:
    # 36 five-minute periods are three hours, all CloudWatch evaluates for a Metrics Insights alarm.
    assert AlarmThresholds(throttled_periods=36).throttled_periods == 36

    # The whole message: stacks/config/alarms.py turns it into "alarms.throttledPeriods: must be at most 36, got 37".
    with pytest.raises(ValueError, match=r"^AlarmThresholds\.throttled_periods must be at most 36, got 37$"):
        AlarmThresholds(throttled_periods=37)
