"""The typed configuration: defaults, the string spellings ``-c`` passes, and one clear error per bad key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stacks.config import (
    DATASET_KINDS,
    LOG_RETENTION_DAYS,
    PROJECT_ROOT,
    RESERVED_FIELDS,
    ConfigError,
    DatasetConfig,
    DatasetGroupConfig,
    PipelineConfig,
    parse_bool,
)
from stacks.ingestion_stack import REMOVAL_POLICIES, RETENTION_DAYS
from stacks.monitoring import AlarmThresholds
from tests.infra.synthesis import ACTIONS_ARN, ITEMS_ARN, project_context

KMS_KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KMS_ROLE = "arn:aws:iam::111122223333:role/PersonalizeKms"

ITEMS_ONLY = {"items": {"arn": ITEMS_ARN}}
GROUP_ARN = "arn:aws:personalize:us-east-1:111122223333:dataset/personalize-ingest"
INTERACTIONS_ARN = f"{GROUP_ARN}/INTERACTIONS"
TRACKING_ID = "0a1b2c3d-4e5f-6789-abcd-ef0123456789"


def config_with(**values: object) -> PipelineConfig:
    """A configuration from the bare minimum (one items dataset) plus ``values``."""
    return PipelineConfig.from_context({"datasets": ITEMS_ONLY, **values})


def test_config_cdk_json_context_matches_code_defaults() -> None:
    # GIVEN cdk.json's context WHEN it is validated THEN it is the documented default configuration
    config = PipelineConfig.from_context(project_context())

    assert config == PipelineConfig(
        datasets=config.datasets,
        dataset_group=DatasetGroupConfig(name="personalize-ingest"),
        removal_policy="retain",
        stack_name="PersonalizeIngest",
        batch_size=10,
        max_batching_window_seconds=0,
        max_concurrency=2,
        max_receive_count=5,
        function_timeout_seconds=60,
        function_memory_mb=512,
        log_retention_days=30,
        powertools_layer_version=27,
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
        10,
        0,
        2,
    )
    assert (config.max_receive_count, config.function_timeout_seconds, config.function_memory_mb) == (5, 60, 512)
    assert (config.log_retention_days, config.powertools_layer_version) == (30, 27)
    assert (config.dataset_group, config.removal_policy, config.provisions_datasets) == (None, "retain", False)


def test_config_dataset_without_fields_created_with_kind_default_schema() -> None:
    config = PipelineConfig.from_context({"datasets": {"items": {}, "actions": {}}})

    assert [(d.kind.name, d.schema_file) for d in config.datasets] == [
        ("items", "schemas/items.json"),
        ("actions", "schemas/actions.json"),
    ]
    # The dataset group is named after the stack unless datasetGroup.name says otherwise.
    assert config.dataset_group == DatasetGroupConfig(name="PersonalizeIngest")


def test_config_dataset_group_all_fields_from_command_line_json() -> None:
    group = {"name": "shop", "domain": "ECOMMERCE", "kmsKeyArn": KMS_KEY, "roleArn": KMS_ROLE}

    config = PipelineConfig.from_context(
        {
            "datasets": '{"items": {"schema": "schemas/items.json"}}',
            "datasetGroup": json.dumps(group),
            "removalPolicy": "DESTROY",
        }
    )

    assert config.dataset_group == DatasetGroupConfig(
        name="shop", domain="ECOMMERCE", kms_key_arn=KMS_KEY, role_arn=KMS_ROLE
    )
    assert config.removal_policy == "destroy"


def test_config_existing_datasets_from_command_line_clear_cdk_json_group() -> None:
    # `cdk deploy -c datasetGroup= -c datasets='{"items": {"arn": ...}}'` over cdk.json's default
    config = PipelineConfig.from_context(
        project_context(datasetGroup="", datasets=json.dumps({"items": {"arn": ITEMS_ARN}}))
    )

    assert (config.provisions_datasets, [d.arn for d in config.datasets]) == (False, [ITEMS_ARN])


def test_config_schema_file_absolute_path_read(tmp_path: Path) -> None:
    schema = tmp_path / "items.json"
    schema.write_text(json.dumps({"type": "record", "fields": [{"name": "ITEM_ID"}, {"name": "PRICE"}]}))

    (dataset,) = PipelineConfig.from_context({"datasets": {"items": {"schema": str(schema)}}}).datasets

    assert dataset.schema == schema.read_text()


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
            "powertoolsLayerVersion": "30",
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
        powertools_layer_version=30,
    )
    assert [(d.kind.name, d.arn) for d in config.datasets] == [("actions", ACTIONS_ARN)]


def test_config_datasets_any_key_order_kind_table_order() -> None:
    config = config_with(datasets={"actions": {"arn": ACTIONS_ARN}, "items": {"arn": ITEMS_ARN}})

    assert [dataset.kind.name for dataset in config.datasets] == ["items", "actions"]


def test_config_dataset_kind_table_names_env_var_and_scoped_action() -> None:
    assert {name: (kind.env_var, kind.put_action) for name, kind in DATASET_KINDS.items()} == {
        "items": ("ITEMS_DATASET_ARN", "personalize:PutItems"),
        "actions": ("ACTIONS_DATASET_ARN", "personalize:PutActions"),
        "users": ("USERS_DATASET_ARN", "personalize:PutUsers"),
        "interactions": ("INTERACTIONS_DATASET_ARN", "personalize:PutEvents"),
        "actionInteractions": ("ACTION_INTERACTIONS_DATASET_ARN", "personalize:PutActionInteractions"),
    }


def test_config_dataset_schema_wildcard_in_dataset_account_and_region() -> None:
    arn = "arn:aws-cn:personalize:cn-north-1:444455556666:dataset/shop/ITEMS"
    (dataset,) = config_with(datasets={"items": {"arn": arn}}).datasets

    assert dataset.any_schema_arn == "arn:aws-cn:personalize:cn-north-1:444455556666:schema/*"
    assert dataset.dataset_group_arn == "arn:aws-cn:personalize:cn-north-1:444455556666:dataset-group/shop"


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
        ("logRetentionDays", 2, "logRetentionDays: must be one of CloudWatch Logs' retention periods (1, 3, 5,"),
        ("logRetentionDays", "a month", "logRetentionDays: must be one of CloudWatch Logs' retention periods"),
        ("powertoolsLayerVersion", 0, "powertoolsLayerVersion: must be an integer of at least 1, got 0"),
        ("powertoolsLayerVersion", "latest", "powertoolsLayerVersion: must be an integer of at least 1"),
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
    ("datasets", "key", "message"),
    [
        (None, "datasets", "at least one dataset is required"),
        ({}, "datasets", "at least one dataset is required"),
        ("{}", "datasets", "at least one dataset is required"),
        ("items", "datasets", "must be a JSON object, got 'items'"),
        ('{"items": ', "datasets", "must be a JSON object"),
        ([ITEMS_ARN], "datasets", "must be a JSON object"),
        (
            {"events": {"arn": ITEMS_ARN}},
            "datasets.events",
            "unknown dataset kind 'events'; known kinds: items, actions, users, interactions, actionInteractions",
        ),
        ({"items": ITEMS_ARN}, "datasets.items", "must be a JSON object"),
        ({"items": {"arn": ITEMS_ARN, "schema": "x.json"}}, "datasets.items", 'either "arn" (an existing dataset) or'),
        (
            {"items": {"colour": "red"}},
            "datasets.items",
            "unknown field(s) colour; known fields: schema, arn, trackingId",
        ),
        (
            {"interactions": {"arn": INTERACTIONS_ARN}},
            "datasets.interactions.trackingId",
            "required with an existing INTERACTIONS dataset: the trackingId of its dataset group's event tracker",
        ),
        (
            {"interactions": {"arn": INTERACTIONS_ARN, "trackingId": "not a tracking id"}},
            "datasets.interactions.trackingId",
            "must be a tracking id",
        ),
        (
            {"interactions": {"arn": INTERACTIONS_ARN, "trackingId": 7}},
            "datasets.interactions.trackingId",
            "must be a string, got 7",
        ),
        (
            {"items": {"arn": ITEMS_ARN, "trackingId": TRACKING_ID}},
            "datasets.items.trackingId",
            "items are written by dataset ARN, not tracking id",
        ),
        (
            {"interactions": {"trackingId": TRACKING_ID}},
            "datasets.interactions.trackingId",
            "only for an existing dataset (arn)",
        ),
        (
            {"users": {"schema": "schemas/items.json"}},
            "datasets.users.schema",
            "USERS schemas need the field(s) USER_ID",
        ),
        (
            {"interactions": {"schema": "schemas/users.json"}},
            "datasets.interactions.schema",
            "INTERACTIONS schemas need the field(s) ITEM_ID, TIMESTAMP",
        ),
        (
            {"actionInteractions": {"schema": "schemas/interactions.json"}},
            "datasets.actionInteractions.schema",
            "ACTION_INTERACTIONS schemas need the field(s) ACTION_ID",
        ),
        ({"items": {"schema": "schemas/nope.json"}}, "datasets.items.schema", "cannot read schema file 'schemas/nope"),
        ({"items": {"schema": ""}}, "datasets.items.schema", "must be the path of a schema file"),
        ({"items": {"schema": "cdk.json"}}, "datasets.items.schema", "the schema must be an Avro record"),
        (
            {"items": {"schema": "schemas/actions.json"}},
            "datasets.items.schema",
            "ITEMS schemas need the field(s) ITEM_ID",
        ),
        (
            {"items": {"schema": "schemas/items.json"}, "actions": {"arn": ACTIONS_ARN}},
            "datasets",
            "either every dataset is created by the stack (schema) or every one exists (arn); got items to create",
        ),
        ({"items": {"arn": "not-an-arn"}}, "datasets.items.arn", "must be a Personalize dataset ARN"),
        ({"items": {"arn": 42}}, "datasets.items.arn", "must be a Personalize dataset ARN"),
        (
            {"items": {"arn": "arn:aws:s3:us-east-1:111122223333:dataset/g/ITEMS"}},
            "datasets.items.arn",
            "must be a Personalize dataset ARN",
        ),
        (
            {"items": {"arn": ITEMS_ARN + "x" * 200}},
            "datasets.items.arn",
            "must be a Personalize dataset ARN (at most 256 characters",
        ),
        (
            {"items": {"arn": "arn:aws:personalize:us-east-1:111122223333:dataset-group/personalize-ingest"}},
            "datasets.items.arn",
            "must have the shape arn:<partition>:personalize:<region>:<12-digit account>:dataset/",
        ),
        (
            {"items": {"arn": "arn:aws:personalize:::dataset/personalize-ingest/ITEMS"}},
            "datasets.items.arn",
            "must have the shape",
        ),
        ({"items": {"arn": ACTIONS_ARN}}, "datasets.items.arn", "must be the ARN of an ITEMS dataset (ending in"),
        ({"actions": {"arn": ITEMS_ARN}}, "datasets.actions.arn", "must be the ARN of an ACTIONS dataset"),
        (
            {
                "items": {"arn": ITEMS_ARN},
                "actions": {"arn": "arn:aws:personalize:us-east-1:111122223333:dataset/other-group/ACTIONS"},
            },
            "datasets",
            "all datasets must belong to one dataset group",
        ),
    ],
)
def test_config_bad_datasets_raise_config_error_naming_key(datasets: object, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        PipelineConfig.from_context({"datasets": datasets})

    assert raised.value.key == key
    assert str(raised.value).startswith(f"{key}: {message}")


@pytest.mark.parametrize(
    ("context", "key", "message"),
    [
        ({"datasetGroup": {"name": "shop"}}, "datasetGroup", "only for datasets the stack creates"),
        ({"datasets": {"items": {}}, "datasetGroup": {"name": "bad name"}}, "datasetGroup.name", "must be a Personal"),
        ({"datasets": {"items": {}}, "datasetGroup": {"name": "x" * 44}}, "datasetGroup.name", "must be a Personal"),
        ({"datasets": {"items": {}}, "stackName": "S" * 44}, "datasetGroup.name", "must be a Personalize name"),
        ({"datasets": {"items": {}}, "datasetGroup": {"colour": "red"}}, "datasetGroup", "unknown field(s) colour"),
        ({"datasets": {"items": {}}, "datasetGroup": {"domain": "RETAIL"}}, "datasetGroup.domain", "must be one of"),
        ({"datasets": {"items": {}}, "datasetGroup": {"kmsKeyArn": KMS_KEY}}, "datasetGroup", "kmsKeyArn and roleArn"),
        (
            {"datasets": {"items": {}}, "datasetGroup": {"kmsKeyArn": "key", "roleArn": KMS_ROLE}},
            "datasetGroup.kmsKeyArn",
            "must be a KMS key ARN",
        ),
        (
            {"datasets": {"items": {}}, "datasetGroup": {"kmsKeyArn": KMS_KEY, "roleArn": "role"}},
            "datasetGroup.roleArn",
            "must be an IAM role ARN",
        ),
        (
            {"datasets": {"items": {}, "actions": {}}, "datasetGroup": {"domain": "ECOMMERCE"}},
            "datasets.actions",
            "a domain dataset group (ECOMMERCE) cannot hold an ACTIONS dataset",
        ),
        ({"datasets": {"items": {}}, "removalPolicy": "snapshot"}, "removalPolicy", "must be one of retain, destroy"),
        (
            {"datasets": {"users": {}, "actionInteractions": {}}, "datasetGroup": {"domain": "VIDEO_ON_DEMAND"}},
            "datasets.actionInteractions",
            "a domain dataset group (VIDEO_ON_DEMAND) cannot hold an ACTION_INTERACTIONS dataset",
        ),
        ({"queueType": "lifo"}, "queueType", "must be one of standard, fifo, got 'lifo'"),
        ({"queueType": "fifo", "batchSize": 11, "maxBatchingWindowSeconds": 0}, "batchSize", "must be at most 10"),
        ({"queueType": "fifo", "maxBatchingWindowSeconds": 5}, "maxBatchingWindowSeconds", "must be 0 with queueTy"),
        ({"alarmEmail": "oncall"}, "alarmEmail", "must be an email address, got 'oncall'"),
        ({"alarmEmail": 42}, "alarmEmail", "must be an email address"),
        ({"alarms": "loud"}, "alarms", "must be a JSON object"),
        ({"alarms": {"deadLetters": 1}}, "alarms", "unknown field(s) deadLetters; known fields: maxMessageAgeSeconds"),
        ({"alarms": {"functionErrors": 0}}, "alarms.functionErrors", "must be an integer of at least 1, got 0"),
        ({"alarms": {"setupErrors": "x"}}, "alarms.setupErrors", "must be an integer of at least 1, got 'x'"),
        ({"alarms": {"throttledPeriods": 37}}, "alarms.throttledPeriods", "must be at most 36, got 37"),
    ],
)
def test_config_bad_dataset_group_or_removal_policy_raises_config_error_naming_key(
    context: dict[str, object], key: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        PipelineConfig.from_context({"datasets": {"items": {"arn": ITEMS_ARN}}, **context})

    assert raised.value.key == key
    assert str(raised.value).startswith(f"{key}: {message}")


def test_config_every_removal_policy_maps_to_cdk_removal_policy() -> None:
    assert sorted(REMOVAL_POLICIES) == ["destroy", "retain"]


def test_config_dataset_built_directly_needs_arn_or_schema() -> None:
    with pytest.raises(ConfigError, match=r"^datasets.items: needs exactly one of"):
        DatasetConfig(kind=DATASET_KINDS["items"])


def test_config_large_batch_without_window_raises_config_error_naming_window() -> None:
    # Lambda refuses an SQS batch size above 10 without a batching window.
    with pytest.raises(ConfigError, match=r"^maxBatchingWindowSeconds: must be at least 1 when batchSize is above 10"):
        config_with(batchSize="11")

    assert config_with(batchSize=10).batch_size == 10
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


def test_config_every_kind_created_from_its_default_schema() -> None:
    config = PipelineConfig.from_context(
        {"datasets": {name: {} for name in DATASET_KINDS}, "datasetGroup": {"name": "shop"}}
    )

    assert [(d.kind.dataset_type, d.schema_file) for d in config.datasets] == [
        ("ITEMS", "schemas/items.json"),
        ("ACTIONS", "schemas/actions.json"),
        ("USERS", "schemas/users.json"),
        ("INTERACTIONS", "schemas/interactions.json"),
        ("ACTION_INTERACTIONS", "schemas/action_interactions.json"),
    ]


def test_config_kind_table_event_apis_unscoped_and_tracked() -> None:
    # PutEvents and PutActionInteractions have no IAM resource type and write through a tracking id.
    unscoped = {kind.name: kind.tracking_env for kind in DATASET_KINDS.values() if not kind.put_on_dataset}

    assert unscoped == {
        "interactions": "EVENT_TRACKING_ID",
        "actionInteractions": "ACTION_INTERACTIONS_TRACKING_ID",
    }


def test_config_existing_event_datasets_keep_tracking_ids_from_command_line() -> None:
    datasets = {
        "interactions": {"arn": INTERACTIONS_ARN, "trackingId": TRACKING_ID},
        "actionInteractions": {"arn": f"{GROUP_ARN}/ACTION_INTERACTIONS"},
    }

    config = PipelineConfig.from_context({"datasets": json.dumps(datasets)})

    assert [(d.kind.name, d.tracking_id) for d in config.datasets] == [
        ("interactions", TRACKING_ID),
        ("actionInteractions", None),
    ]


def test_config_fifo_alarm_email_and_thresholds_from_command_line_strings() -> None:
    config = config_with(
        queueType="FIFO", alarmEmail="oncall@example.com", alarms='{"maxMessageAgeSeconds": "600", "setupErrors": 2}'
    )

    assert (config.queue_type, config.fifo, config.alarm_email) == ("fifo", True, "oncall@example.com")
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


def test_config_reserved_field_types_agree_with_the_emulator() -> None:
    from local.emulator.avro import DATASET_TYPES

    assert {name: dict(fields) for name, fields in RESERVED_FIELDS.items()} == {
        name: dict(dataset_type.reserved) for name, dataset_type in DATASET_TYPES.items()
    }


@pytest.mark.parametrize(
    ("kind", "reserved", "message"),
    [
        (
            "actions",
            {"name": "REPEAT_FREQUENCY", "type": ["null", "int"]},
            'REPEAT_FREQUENCY is reserved in ACTIONS schemas and must be of type "long" or ["null", "long"], got',
        ),
        (
            "items",
            {"name": "CREATION_TIMESTAMP", "type": ["null", "long"]},
            'CREATION_TIMESTAMP is reserved in ITEMS schemas and must be of type "long", got ["null", "long"]',
        ),
    ],
)
def test_config_schema_with_reserved_field_of_wrong_type_raises_config_error(
    tmp_path: Path, kind: str, reserved: dict[str, object], message: str
) -> None:
    default = json.loads((PROJECT_ROOT / DATASET_KINDS[kind].default_schema).read_text())
    default["fields"].append(reserved)
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(default))

    with pytest.raises(ConfigError) as raised:
        PipelineConfig.from_context({"datasets": {kind: {"schema": str(schema)}}, "datasetGroup": {"name": "shop"}})

    assert raised.value.key == f"datasets.{kind}.schema"
    assert message in str(raised.value)


def test_config_kind_table_agrees_with_the_handler_and_local_mode() -> None:
    # Three tables name the same five kinds: the stack's (what it configures), the handler's (what it reads, Contract
    # 2) and local mode's (what LocalPipeline provisions). A row that drifts in one would pass every other test.
    from ingest.kinds import KINDS
    from local.environment import LOCAL_KINDS

    stack = {kind.env_var: (kind.dataset_type, kind.put_action, kind.tracking_env) for kind in DATASET_KINDS.values()}
    handler = {
        kind.dataset_env: (
            kind.dataset_env.removesuffix("_DATASET_ARN"),
            f"personalize:{kind.api}",
            kind.target_env if kind.target_field == "trackingId" else None,
        )
        for kind in KINDS.values()
    }
    local = {
        kind.dataset_env: (kind.dataset_type, f"personalize:{KINDS[name].api}", kind.tracking_env)
        for name, kind in LOCAL_KINDS.items()
    }

    assert stack == handler == local
    assert set(LOCAL_KINDS) == set(KINDS)
